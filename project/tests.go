package project

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
)

var builtinTests = map[string]bool{"unique": true, "not_null": true, "accepted_values": true, "relationships": true}

// addSchemaTests adds the tests declared under models, seeds and sources of
// one yml file.
func (p *Project) addSchemaTests(sd *schemaDoc, cfgTests, cfgDataTests map[string]any) error {
	projCfg := mergeMaps(folderConfig(cfgTests, p.Name, "", ""), folderConfig(cfgDataTests, p.Name, "", ""))
	add := func(target *tandem.Node, col string, entries []any, line int) error {
		for _, e := range entries {
			if err := p.addGenericTest(sd.rel, line, target, col, e, projCfg); err != nil {
				return err
			}
		}
		return nil
	}
	for _, kind := range []string{"models", "seeds"} {
		entries := sd.f.Models
		if kind == "seeds" {
			entries = sd.f.Seeds
		}
		seq := mapValue(sd.root, kind)
		for i, m := range entries {
			id, ok := p.byName[m.Name]
			if !ok {
				continue // warned about in applyProperties
			}
			var entry *yaml.Node
			if seq != nil && i < len(seq.Content) {
				entry = seq.Content[i]
			}
			if err := add(p.Nodes[id], "", append(m.Tests, m.DataTests...), keyLine(entry, "tests", "data_tests")); err != nil {
				return err
			}
			colLines := seqLines(entry, "columns")
			for j, c := range m.Columns {
				if err := add(p.Nodes[id], c.Name, append(c.Tests, c.DataTests...), lineAt(colLines, j)); err != nil {
					return err
				}
			}
		}
	}
	srcSeq := mapValue(sd.root, "sources")
	for i, s := range sd.f.Sources {
		var tables *yaml.Node
		if srcSeq != nil && i < len(srcSeq.Content) {
			tables = mapValue(srcSeq.Content[i], "tables")
		}
		for j, t := range s.Tables {
			n := p.Nodes[p.sources[s.Name+"."+t.Name]]
			var entry *yaml.Node
			if tables != nil && j < len(tables.Content) {
				entry = tables.Content[j]
			}
			if err := add(n, "", append(t.Tests, t.DataTests...), keyLine(entry, "tests", "data_tests")); err != nil {
				return err
			}
			colLines := seqLines(entry, "columns")
			for k, c := range t.Columns {
				if err := add(n, c.Name, append(c.Tests, c.DataTests...), lineAt(colLines, k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func keyLine(n *yaml.Node, keys ...string) int {
	for _, k := range keys {
		if v := mapValue(n, k); v != nil {
			return v.Line
		}
	}
	if n != nil {
		return n.Line
	}
	return 0
}

var reRefArg = regexp.MustCompile(`^\s*(?:\{\{\s*)?ref\(\s*['"]([^'"]+)['"]\s*\)\s*(?:\}\})?\s*$`)
var reSourceArg = regexp.MustCompile(`^\s*(?:\{\{\s*)?source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*(?:\}\})?\s*$`)

func (p *Project) addGenericTest(file string, line int, target *tandem.Node, col string, entry any, projCfg map[string]any) error {
	var name string
	args := map[string]any{}
	switch e := entry.(type) {
	case string:
		name = e
	case map[string]any:
		if tn, ok := e["test_name"].(string); ok { // - name: custom, test_name: unique
			name = tn
			for k, v := range e {
				if k != "test_name" {
					args[k] = v
				}
			}
			break
		}
		if len(e) != 1 {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "a test entry must be a name or a one-key mapping like `accepted_values: {values: [...]}`, got keys %v", sorted.Keys(e))
		}
		for k, v := range e {
			name = k
			if m, ok := v.(map[string]any); ok {
				args = mergeMaps(m, nil)
			} else if v != nil {
				return tandem.FileErrorf(tandem.EINVALID, file, line, "arguments of test %q must be a mapping", k)
			}
		}
	default:
		return tandem.FileErrorf(tandem.EINVALID, file, line, "a test entry must be a name or a mapping, got %v", entry)
	}
	pkg := ""
	if i := strings.LastIndex(name, "."); i >= 0 { // package.test_name
		pkg, name = name[:i], name[i+1:]
	}
	// dbt >= 1.10 nests arguments under arguments: and config under config:.
	cfg := mergeMaps(projCfg, asMap(args["config"]))
	if a := asMap(args["arguments"]); a != nil {
		for k, v := range a {
			args[k] = v
		}
	}
	customName, _ := args["name"].(string)
	for _, k := range []string{"config", "arguments", "name", "severity", "where", "tags", "meta", "enabled", "store_failures", "warn_if", "error_if", "limit"} {
		if v, ok := args[k]; ok && k != "config" && k != "arguments" && k != "name" {
			cfg[k] = v
		}
		delete(args, k)
	}
	// A test's config renders when the file is read, as dbt renders it
	// (severity: "{{ 'warn' if target.type == 'spark' else 'error' }}").
	for k, v := range cfg {
		if src, ok := v.(string); ok && (strings.Contains(src, "{{") || strings.Contains(src, "{%")) && k != "where" {
			r, err := renderValue(file, line, src, yamlGlobals(p.Vars, p.targetContext()))
			if err != nil {
				return err
			}
			cfg[k] = r
		}
	}
	if !builtinTests[name] || pkg != "" && pkg != p.Name {
		var ok bool
		if pkg, ok = p.macros.testMacro(pkg, name); !ok {
			known := []string{"unique", "not_null", "accepted_values", "relationships"}
			for m := range p.macros.byName {
				if strings.HasPrefix(m, "test_") {
					known = append(known, strings.TrimPrefix(m, "test_"))
				}
			}
			msg := fmt.Sprintf("unknown test %q", name)
			if near := nearest(name, known); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			} else {
				msg += "; define it with {% test " + name + "(model, column_name) %} in macros/ or tests/generic/"
			}
			return tandem.FileErrorf(tandem.EINVALID, file, line, "%s", msg)
		}
	}
	switch name {
	case "accepted_values":
		if _, ok := args["values"].([]any); !ok {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "accepted_values on %s.%s needs values: [a list]", target.Name, col)
		}
	case "relationships":
		if str(args["to"]) == "" || str(args["field"]) == "" {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "relationships on %s.%s needs to: ref('model') and field: column", target.Name, col)
		}
	}
	if (name == "unique" || name == "not_null" || name == "accepted_values" || name == "relationships") && col == "" {
		if c, ok := args["column_name"].(string); ok {
			col = c
		} else {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "test %q on %s needs a column: put it under columns: or give column_name", name, target.Name)
		}
	}
	sev := strings.ToLower(firstNonEmpty(str(cfg["severity"]), "error"))
	if sev != "error" && sev != "warn" {
		return tandem.FileErrorf(tandem.EINVALID, file, line, "severity must be warn or error, got %q", sev)
	}
	if en, ok := cfg["enabled"].(bool); ok && !en {
		return nil
	}
	deps := []string{target.ID}
	if name == "relationships" {
		to := str(args["to"])
		var depID string
		if m := reRefArg.FindStringSubmatch(to); m != nil {
			depID = p.byName[m[1]]
			if depID == "" {
				return tandem.FileErrorf(tandem.EINVALID, file, line, "relationships on %s.%s: ref('%s') names no model or seed", target.Name, col, m[1])
			}
		} else if m := reSourceArg.FindStringSubmatch(to); m != nil {
			depID = p.sources[m[1]+"."+m[2]]
			if depID == "" {
				return tandem.FileErrorf(tandem.EINVALID, file, line, "relationships on %s.%s: source('%s', '%s') is not declared", target.Name, col, m[1], m[2])
			}
		} else {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "relationships on %s.%s: to: must be ref('model') or source('src', 'table'), got %q", target.Name, col, to)
		}
		if depID != target.ID {
			deps = append(deps, depID)
		}
		args["__to"] = depID
	}
	// Any other argument that is ref() or source() is that relation when the
	// test compiles (dbt_expectations' compare_model: ref("other")), and the
	// test depends on it.
	for k, v := range args {
		src, ok := v.(string)
		if !ok || strings.HasPrefix(k, "__") || name == "relationships" && k == "to" {
			continue
		}
		var depID string
		if m := reRefArg.FindStringSubmatch(src); m != nil {
			depID = p.byName[m[1]]
		} else if m := reSourceArg.FindStringSubmatch(src); m != nil {
			depID = p.sources[m[1]+"."+m[2]]
		} else {
			continue
		}
		if depID == "" {
			return tandem.FileErrorf(tandem.EINVALID, file, line, "test %q: argument %s: %s names no model, seed or declared source", name, k, src)
		}
		if depID != target.ID {
			deps = append(deps, depID)
		}
	}
	testName := customName
	if testName == "" {
		testName = genericTestName(name, target, col, args)
	}
	base := testName
	for i := 2; p.Nodes["test."+p.Name+"."+testName] != nil; i++ {
		testName = fmt.Sprintf("%s_%d", base, i)
	}
	n := &tandem.Node{
		ID: "test." + p.Name + "." + testName, Kind: tandem.KindTest, Name: testName, Path: file, Line: line,
		Materialized: tandem.TestMat, Enabled: true, DependsOn: deps, Config: cfg, Tags: union(target.Tags, toStrings(cfg["tags"])),
		Test: &tandem.TestSpec{Name: name, Package: pkgOf(pkg, p.Name), Attached: target.ID, Column: col, Args: args, Severity: sev},
	}
	p.Nodes[n.ID] = n
	return nil
}

var reNonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func genericTestName(name string, target *tandem.Node, col string, args map[string]any) string {
	parts := []string{name}
	if target.Kind == tandem.KindSource {
		parts = append(parts, "source", strings.ReplaceAll(target.Name, ".", "_"))
	} else {
		parts = append(parts, target.Name)
	}
	if col != "" {
		parts = append(parts, col)
	}
	s := strings.Join(parts, "_")
	var extra []string
	ks := sorted.Keys(args)
	for _, k := range ks {
		if strings.HasPrefix(k, "__") {
			continue
		}
		extra = append(extra, fmt.Sprint(args[k]))
	}
	// Short arguments tell tests apart (positive__true); long ones (a list
	// of accepted values) would make unreadable names, so they are left out
	// and a numeric suffix tells duplicates apart.
	if joined := strings.Join(extra, "__"); len(extra) > 0 && len(joined) <= 24 && name != "relationships" {
		s += "__" + joined
	}
	s = strings.Trim(reNonIdent.ReplaceAllString(s, "_"), "_")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (p *Project) addSingularTest(rel, root string, b []byte, cfgTests, cfgDataTests map[string]any) error {
	name := strings.TrimSuffix(filepath.Base(rel), ".sql")
	t, err := parseTemplate(rel, 1, string(b))
	if err != nil {
		return err
	}
	id := "test." + p.Name + "." + name
	if _, dup := p.Nodes[id]; dup {
		return tandem.FileErrorf(tandem.EINVALID, rel, 1, "two tests are named %q", name)
	}
	n := &tandem.Node{ID: id, Kind: tandem.KindTest, Name: name, Path: rel, Line: 1, Materialized: tandem.TestMat,
		Enabled: true, RawSQL: string(b), Config: map[string]any{}}
	applyConfig(n, mergeMaps(folderConfig(cfgTests, p.Name, root, rel), folderConfig(cfgDataTests, p.Name, root, rel)))
	rc := p.newRenderCall(n, parseMode, CompileContext{})
	if _, err := t.Render(rc.globals(), p.macros); err != nil {
		return err
	}
	applyConfig(n, rc.config)
	if !n.Enabled {
		return nil
	}
	n.DependsOn = rc.deps
	sev := strings.ToLower(firstNonEmpty(str(n.Config["severity"]), "error"))
	if sev != "error" && sev != "warn" {
		return tandem.FileErrorf(tandem.EINVALID, rel, 1, "severity must be warn or error, got %q", sev)
	}
	n.Test = &tandem.TestSpec{Severity: sev}
	if len(n.DependsOn) > 0 {
		n.Test.Attached = n.DependsOn[0]
	}
	p.Nodes[id] = n
	p.templates[id] = t
	return nil
}

// compileGenericTest returns a query whose rows are the failures, with the
// ephemeral models it reads as CTEs.
func (p *Project) compileGenericTest(n *tandem.Node, cc CompileContext) (string, error) {
	target := p.Nodes[n.Test.Attached]
	rc := p.newRenderCall(target, compileMode, cc)
	rc.test = n
	sql, err := p.genericTestSQL(n, rc)
	if err != nil {
		return "", err
	}
	return p.withCTEs(rc, sql)
}

func (p *Project) genericTestSQL(n *tandem.Node, rc *renderCall) (string, error) {
	spec := n.Test
	target := p.Nodes[spec.Attached]
	model := p.Relation(target).String()
	if target.Materialized == tandem.Ephemeral { // dbt tests an ephemeral model through its CTE
		model = "__dbt__cte__" + target.Name
		rc.cteSeen[target.ID] = true
		rc.ctes = append(rc.ctes, target.ID)
	}
	if where := str(n.Config["where"]); where != "" {
		model = fmt.Sprintf("(select * from %s where %s) dbt_subquery", model, where)
	}
	col := spec.Column
	switch spec.Name {
	case "unique":
		return fmt.Sprintf("select %s as unique_field, count(*) as n_records\nfrom %s\nwhere %s is not null\ngroup by %s\nhaving count(*) > 1", col, model, col, col), nil
	case "not_null":
		return fmt.Sprintf("select *\nfrom %s\nwhere %s is null", model, col), nil
	case "accepted_values":
		vals := spec.Args["values"].([]any)
		quote := true
		if q, ok := spec.Args["quote"].(bool); ok {
			quote = q
		}
		lits := make([]string, len(vals))
		for i, v := range vals {
			if quote {
				lits[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
			} else {
				lits[i] = fmt.Sprint(v)
			}
		}
		return fmt.Sprintf("select * from (\n  select %s as value_field, count(*) as n_records\n  from %s\n  group by %s\n) all_values\nwhere value_field not in (%s)", col, model, col, strings.Join(lits, ", ")), nil
	case "relationships":
		parent := p.Relation(p.Nodes[str(spec.Args["__to"])]).String()
		field := str(spec.Args["field"])
		return fmt.Sprintf("select child.from_field\nfrom (select %s as from_field from %s where %s is not null) child\nleft join (select %s as to_field from %s) parent on child.from_field = parent.to_field\nwhere parent.to_field is null", col, model, col, field, parent), nil
	}
	// A custom generic test: call its macro with the declared arguments.
	macro := p.macros.macroOf(spec.Package, spec.Name)
	declared := map[string]bool{}
	for _, name := range macro.Params {
		declared[name] = true
	}
	if c, ok := spec.Args["column_name"].(string); ok && col == "" { // a table-level test given column_name:
		col = c
	}
	globals := map[string]any{"__model": Relation{Schema: p.Relation(target).Schema, Name: p.Relation(target).Name, Expr: model}, "__column": col}
	var call []string
	if declared["model"] || macro.CatchKwargs {
		call = append(call, "model=__model")
	}
	if col != "" && (declared["column_name"] || macro.CatchKwargs) {
		call = append(call, "column_name=__column")
	}
	argNames := sorted.Keys(spec.Args)
	sort.Strings(argNames)
	for _, k := range argNames {
		if strings.HasPrefix(k, "__") || k == "column_name" {
			continue
		}
		if !declared[k] && !macro.CatchKwargs {
			return "", tandem.FileErrorf(tandem.EINVALID, n.Path, n.Line, "test %q takes no argument %q", spec.Name, k)
		}
		if src, ok := spec.Args[k].(string); ok && (reRefArg.MatchString(src) || reSourceArg.MatchString(src)) {
			src = strings.TrimSpace(src)
			src = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(src, "{{"), "}}"))
			call = append(call, fmt.Sprintf("%s=%s", k, src))
			continue
		}
		globals["__arg_"+k] = spec.Args[k]
		call = append(call, fmt.Sprintf("%s=__arg_%s", k, k))
	}
	t, err := parseTemplate(n.Path, n.Line, fmt.Sprintf("{{ %stest_%s(%s) }}", pkgPrefix(spec.Package), spec.Name, strings.Join(call, ", ")))
	if err != nil {
		return "", err
	}
	g := rc.globals()
	// A string argument with Jinja in it renders first, in the test's
	// context, as dbt renders test arguments
	// (expression: "d = {{ dbt_date.date(1997, 9, 29) }}").
	var render func(v any) (any, error)
	render = func(v any) (any, error) {
		switch x := v.(type) {
		case string:
			if !strings.Contains(x, "{{") && !strings.Contains(x, "{%") {
				return x, nil
			}
			at, err := parseTemplate(n.Path, n.Line, x)
			if err != nil {
				return nil, err
			}
			return at.Render(g, p.macros)
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				r, err := render(e)
				if err != nil {
					return nil, err
				}
				out[i] = r
			}
			return out, nil
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				r, err := render(e)
				if err != nil {
					return nil, err
				}
				out[k] = r
			}
			return out, nil
		}
		return v, nil
	}
	for k, v := range globals {
		if strings.HasPrefix(k, "__arg_") {
			r, err := render(v)
			if err != nil {
				return "", err
			}
			globals[k] = r
		}
	}
	for k, v := range globals {
		g[k] = v
	}
	return t.Render(g, p.macros)
}

func pkgOf(pkg, root string) string {
	if pkg == root {
		return ""
	}
	return pkg
}

func pkgPrefix(pkg string) string {
	if pkg == "" {
		return ""
	}
	return pkg + "."
}
