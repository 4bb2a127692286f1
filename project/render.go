package project

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/jinja"
)

// CompileContext answers what compiling a node needs from the warehouse.
type CompileContext struct {
	// Exists reports whether the node's relation exists as a table, which
	// with an incremental model makes is_incremental() true.
	Exists      bool
	FullRefresh bool
	// Interval, when set (backfills), reaches SQL as var('start'), var('end').
	Vars map[string]any
	// Query, when set, runs SQL on the warehouse for run_query and
	// statement blocks.
	Query Query
	// Config, when set, receives what config() calls set while compiling
	// (a generic test's fail_calc, warn_if, error_if).
	Config map[string]any
}

// renderMode separates the parse render (find refs and config) from the
// compile render (produce the SQL that runs).
type renderMode int

const (
	parseMode renderMode = iota
	compileMode
)

type renderCall struct {
	p         *Project
	n         *tandem.Node
	test      *tandem.Node // the generic test being compiled, n its model
	unit      *unitTest    // the unit test being compiled, n its model
	unitErr   error        // a fixture that failed to render
	mode      renderMode
	cc        CompileContext
	deps      []string
	depSeen   map[string]bool
	config    map[string]any
	ctes      []string // ephemeral models referenced, in order
	cteSeen   map[string]bool
	startedAt time.Time
}

func (rc *renderCall) addDep(id string) {
	if !rc.depSeen[id] {
		rc.depSeen[id] = true
		rc.deps = append(rc.deps, id)
	}
}

// Relation returns the relation a node is built as.
func (p *Project) Relation(n *tandem.Node) Relation {
	switch n.Kind {
	case tandem.KindSource:
		if n.ExternalLocation != "" {
			return Relation{Schema: n.Schema, Name: n.Alias, Expr: n.ExternalLocation}
		}
		return Relation{Schema: n.Schema, Name: n.Relation()}
	}
	return Relation{Schema: p.SchemaOf(n), Name: n.Relation()}
}

// SchemaOf is where a node is built: what the project's
// generate_schema_name returned for it, else dbt's default (a custom schema
// is appended to the target schema).
func (p *Project) SchemaOf(n *tandem.Node) string {
	if s, ok := p.schemas[n.ID]; ok { // the project's own generate_schema_name
		return s
	}
	if n.Schema == "" {
		return p.Target.Schema
	}
	return p.Target.Schema + "_" + n.Schema
}

func (rc *renderCall) globals() map[string]any {
	p, n := rc.p, rc.n
	g := map[string]any{
		"ref": jinja.Func(func(a *jinja.Args) (any, error) {
			if v, ok := a.Kwarg("version"); ok && v != nil {
				return nil, userError("ref(..., version=%s): model versions are not supported by Tandem yet", jinja.Str(v))
			}
			if len(a.Pos) == 0 || len(a.Pos) > 2 {
				return nil, userError("ref() takes a model name, or a package and a model name")
			}
			name := jinja.Str(a.Pos[len(a.Pos)-1])
			id, ok := p.byName[name]
			if !ok {
				if f, off := p.disabled[name]; off {
					return nil, userError("ref('%s'): that model is disabled (enabled: false in %s)", name, f)
				}
				msg := fmt.Sprintf("ref('%s'): no model or seed named %q", name, name)
				if near := nearest(name, sorted.Keys(p.byName)); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				}
				return nil, userError("%s", msg)
			}
			rc.addDep(id)
			if rc.mode == parseMode {
				// Only the dependency matters now; the other model's own
				// config() may not be applied yet (models render in parallel).
				return Relation{Schema: p.Target.Schema, Name: name}, nil
			}
			dep := p.Nodes[id]
			if rc.unit != nil { // a unit test's given rows stand in for the model
				if r, ok := rc.unitInput("ref:"+name, p.Relation(dep)); ok {
					return r, nil
				}
			}
			if dep.Materialized == tandem.Ephemeral && rc.mode == compileMode {
				if !rc.cteSeen[id] {
					rc.cteSeen[id] = true
					rc.ctes = append(rc.ctes, id)
				}
				return Relation{Name: dep.Name, Expr: "__dbt__cte__" + dep.Name}, nil
			}
			return p.Relation(dep), nil
		}),
		"source": jinja.Func(func(a *jinja.Args) (any, error) {
			if len(a.Pos) != 2 {
				return nil, userError("source() takes a source name and a table name")
			}
			src, table := jinja.Str(a.Pos[0]), jinja.Str(a.Pos[1])
			id, ok := p.sources[src+"."+table]
			if !ok {
				msg := fmt.Sprintf("source('%s', '%s'): no such source table", src, table)
				if near := nearest(src+"."+table, sorted.Keys(p.sources)); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				}
				return nil, userError("%s; sources are declared under sources: in a models/*.yml file", msg)
			}
			rc.addDep(id)
			if rc.unit != nil {
				if r, ok := rc.unitInput("source:"+src+"."+table, p.Relation(p.Nodes[id])); ok {
					return r, nil
				}
			}
			return p.Relation(p.Nodes[id]), nil
		}),
		"config": &configObj{rc},
		"this":   p.Relation(n),
		"model":  &lazyNode{p: p, n: n},
		"is_incremental": jinja.Func(func(*jinja.Args) (any, error) {
			if rc.unit != nil {
				if v, ok := rc.unit.macros["is_incremental"]; ok { // overrides: macros:
					return v, nil
				}
			}
			return rc.mode == compileMode && n.Materialized == tandem.Incremental && rc.cc.Exists && !rc.cc.FullRefresh, nil
		}),
		"var": jinja.Func(func(args *jinja.Args) (any, error) {
			name, def, hasDef, err := nameAndDefault("var", args)
			if err != nil {
				return nil, err
			}
			if v, ok := rc.cc.Vars[name]; ok {
				return v, nil
			}
			if v, ok := p.Vars[name]; ok {
				return v, nil
			}
			if hasDef {
				return def, nil
			}
			if rc.mode == parseMode {
				return "", nil // a var may only be given at run time (backfills)
			}
			return nil, userError("var('%s') is not set: add it under vars: in dbt_project.yml, pass --vars '{%s: ...}', or give a default: var('%s', ...)", name, name, name)
		}),
		"env_var": jinja.Func(envVar),
		"doc": jinja.Func(func(a *jinja.Args) (any, error) {
			v, _ := a.Arg(0, "name")
			name := jinja.Str(v)
			if d, ok := p.Docs[name]; ok {
				return d, nil
			}
			return "", userError("doc('%s'): no {%% docs %s %%} block in the project", name, name)
		}),
		"target":         p.targetContext(),
		"execute":        rc.mode == compileMode,
		"flags":          map[string]any{"FULL_REFRESH": rc.cc.FullRefresh, "STORE_FAILURES": false},
		"project_name":   p.Name,
		"run_started_at": jinja.NewDateTime(rc.startedAt.Truncate(time.Microsecond)),
		"log":            jinja.Func(func(*jinja.Args) (any, error) { return "", nil }),
		"exceptions": map[string]any{
			"raise_compiler_error": jinja.Func(func(a *jinja.Args) (any, error) {
				v, _ := a.Arg(0, "msg")
				return nil, userError("%s", jinja.Str(v))
			}),
			"warn": jinja.Func(func(*jinja.Args) (any, error) { return "", nil }),
		},
		"modules": modules,
	}
	rc.introspection(g)
	return g
}

// modules is dbt's modules namespace; its functions hold no state.
var modules = map[string]any{
	"re":       jinja.ReModule(),
	"datetime": jinja.DatetimeModule(),
	"pytz":     jinja.PytzModule(),
}

// newRenderCall starts one render of node n.
func (p *Project) newRenderCall(n *tandem.Node, mode renderMode, cc CompileContext) *renderCall {
	return &renderCall{p: p, n: n, mode: mode, cc: cc, depSeen: map[string]bool{}, cteSeen: map[string]bool{}, config: map[string]any{}, startedAt: time.Now()}
}

// parseRender renders a model or snapshot once to record its refs, sources
// and config().
func (p *Project) parseRender(n *tandem.Node) error {
	rc := p.newRenderCall(n, parseMode, CompileContext{})
	if _, err := p.templates[n.ID].Render(rc.globals(), p.macros); err != nil {
		return err
	}
	applyConfig(n, rc.config)
	p.callOrigins(n, rc.config)
	n.DependsOn = rc.deps
	return nil
}

// parseModel renders a model once to record its refs, sources and config(),
// and checks its materialization.
func (p *Project) parseModel(n *tandem.Node) error {
	if err := p.parseRender(n); err != nil {
		return err
	}
	if n.Materialized == tandem.Incremental && n.Strategy == "" {
		n.Strategy = "append"
		if len(n.UniqueKey) > 0 {
			n.Strategy = "delete+insert"
		}
	}
	switch n.Materialized {
	case tandem.View, tandem.Table, tandem.Incremental, tandem.Ephemeral:
	default:
		return p.configError(n, "materialized", "materialized=%q is not one of view, table, incremental, ephemeral", n.Materialized)
	}
	switch n.Strategy {
	case "", "append", "merge", "delete+insert":
	default:
		return p.configError(n, "incremental_strategy", "incremental_strategy=%q is not one of append, merge, delete+insert", n.Strategy)
	}
	if (n.Strategy == "merge" || n.Strategy == "delete+insert") && len(n.UniqueKey) == 0 {
		return p.configError(n, "incremental_strategy", "incremental_strategy=%q needs a unique_key", n.Strategy)
	}
	return nil
}

var reLeadingWith = regexp.MustCompile(`(?is)^(\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*)with\s`)

// Compile renders a model or test into the SQL that runs. Ephemeral models it
// refers to are injected as CTEs, as dbt does.
func (p *Project) Compile(id string, cc CompileContext) (string, error) {
	n, ok := p.Nodes[id]
	if !ok {
		return "", tandem.Errorf(tandem.ENOTFOUND, "no node %s", id)
	}
	if u, ok := p.unitTests[id]; ok {
		return p.compileUnitTest(n, u, cc)
	}
	if n.Kind == tandem.KindTest && n.Test.Name != "" {
		return p.compileGenericTest(n, cc)
	}
	t, ok := p.templates[id]
	if !ok {
		return "", tandem.Errorf(tandem.EINVALID, "%s has no SQL to compile", id)
	}
	rc := p.newRenderCall(n, compileMode, cc)
	sql, err := t.Render(rc.globals(), p.macros)
	if err != nil {
		return "", err
	}
	return p.withCTEs(rc, sql)
}

// withCTEs puts the ephemeral models a render referenced in front of its
// SQL, as CTEs (in the SQL's own with clause when it has one).
func (p *Project) withCTEs(rc *renderCall, sql string) (string, error) {
	cc := rc.cc
	if len(rc.ctes) == 0 {
		return sql, nil
	}
	var ctes []string
	for i := 0; i < len(rc.ctes); i++ { // ephemeral models may ref ephemeral models
		dep := p.Nodes[rc.ctes[i]]
		sub := p.newRenderCall(dep, compileMode, CompileContext{Vars: cc.Vars, Query: cc.Query})
		sub.cteSeen, sub.startedAt = rc.cteSeen, rc.startedAt
		body, err := p.templates[dep.ID].Render(sub.globals(), p.macros)
		if err != nil {
			return "", err
		}
		rc.ctes = append(rc.ctes, sub.ctes...)
		ctes = append(ctes, fmt.Sprintf("__dbt__cte__%s as (\n%s\n)", dep.Name, strings.TrimSpace(body)))
	}
	// Inner ephemeral models must be defined before the ones that use them.
	for i, j := 0, len(ctes)-1; i < j; i, j = i+1, j-1 {
		ctes[i], ctes[j] = ctes[j], ctes[i]
	}
	head := "with " + strings.Join(ctes, ",\n")
	if loc := reLeadingWith.FindStringSubmatchIndex(sql); loc != nil {
		return sql[:loc[3]] + head + ",\n" + sql[loc[1]:], nil
	}
	return head + "\n" + sql, nil
}

// CompileInline renders ad-hoc SQL (tandem show --inline) with the
// project's refs, sources and macros.
func (p *Project) CompileInline(sql string) (string, error) {
	t, err := parseTemplate("--inline", 1, sql)
	if err != nil {
		return "", err
	}
	n := &tandem.Node{ID: "inline", Name: "inline", Path: "--inline", Materialized: tandem.View}
	rc := p.newRenderCall(n, compileMode, CompileContext{})
	return t.Render(rc.globals(), p.macros)
}

// nameAndDefault reads fn(name[, default]) or fn(name, default=...).
func nameAndDefault(fn string, a *jinja.Args) (name string, def any, hasDef bool, err error) {
	if len(a.Pos) == 0 {
		return "", nil, false, userError("%s() needs a name as its first argument", fn)
	}
	s, ok := a.Pos[0].(string)
	if !ok {
		return "", nil, false, userError("%s() needs a name as its first argument", fn)
	}
	if len(a.Pos) > 1 {
		return s, a.Pos[1], true, nil
	}
	if v, ok := a.Kwarg("default"); ok {
		return s, v, true, nil
	}
	return s, nil, false, nil
}

// configObj is config: config(key=value, ...) in a model sets its config at
// parse time; config.get(key, default) and config.require(key) read it.
type configObj struct{ rc *renderCall }

// Call implements jinja.Callable.
func (c *configObj) Call(a *jinja.Args) (any, error) {
	if c.rc.mode == compileMode && c.rc.cc.Config != nil {
		for _, kw := range a.Kw {
			c.rc.cc.Config[kw.Key] = jinja.ToGo(kw.Value)
		}
		return "", nil
	}
	if c.rc.mode == parseMode {
		for _, kw := range a.Kw {
			c.rc.config[kw.Key] = jinja.ToGo(kw.Value)
		}
		for _, p := range a.Pos {
			if d, ok := jinja.ToGo(p).(map[string]any); ok {
				for k, v := range d {
					c.rc.config[k] = v
				}
			}
		}
	}
	return "", nil
}

func (c *configObj) lookup(key string) (any, bool) {
	if v, ok := c.rc.config[key]; ok {
		return v, true
	}
	if t := c.rc.test; t != nil { // a generic test reads its own config first
		if v, ok := t.Config[key]; ok {
			return v, true
		}
	}
	if v, ok := c.rc.n.Config[key]; ok {
		return v, true
	}
	switch key {
	case "materialized":
		return string(c.rc.n.Materialized), c.rc.n.Materialized != ""
	case "schema":
		return c.rc.n.Schema, c.rc.n.Schema != ""
	case "alias":
		return c.rc.n.Alias, c.rc.n.Alias != ""
	case "unique_key":
		if len(c.rc.n.UniqueKey) == 1 {
			return c.rc.n.UniqueKey[0], true
		}
		if len(c.rc.n.UniqueKey) > 1 {
			return c.rc.n.UniqueKey, true
		}
	case "incremental_strategy":
		return c.rc.n.Strategy, c.rc.n.Strategy != ""
	}
	return nil, false
}

// Attr implements jinja.Getter.
func (c *configObj) Attr(name string) (any, bool) {
	switch name {
	case "get":
		return jinja.Func(func(a *jinja.Args) (any, error) {
			k, _ := a.Arg(0, "name")
			if v, ok := c.lookup(jinja.Str(k)); ok {
				return v, nil
			}
			def, _ := a.Arg(1, "default")
			return def, nil
		}), true
	case "require":
		return jinja.Func(func(a *jinja.Args) (any, error) {
			k, _ := a.Arg(0, "name")
			if v, ok := c.lookup(jinja.Str(k)); ok {
				return v, nil
			}
			return nil, userError("config %q is required by %s but not set", jinja.Str(k), c.rc.n.Name)
		}), true
	case "set":
		return jinja.Func(func(a *jinja.Args) (any, error) {
			k, _ := a.Arg(0, "name")
			v, _ := a.Arg(1, "value")
			if c.rc.mode == parseMode {
				c.rc.config[jinja.Str(k)] = jinja.ToGo(v)
			}
			return "", nil
		}), true
	}
	return nil, false
}
