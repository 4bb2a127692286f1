package project

import (
	"fmt"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/jinja"
)

// Hook keys: dbt accepts both spellings; Tandem keeps them under one.
const (
	preHook  = "pre-hook"
	postHook = "post-hook"
)

// hookKey names the one config key a hook spelling is kept under.
func hookKey(k string) (string, bool) {
	switch k {
	case "pre-hook", "pre_hook":
		return preHook, true
	case "post-hook", "post_hook":
		return postHook, true
	}
	return "", false
}

// hookList reads a hook value as dbt does: one SQL string, a list of them,
// or {sql: ..., transaction: ...} mappings.
func hookList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, hookList(e)...)
		}
		return out
	case map[string]any:
		if sql, ok := x["sql"]; ok {
			return []any{sql}
		}
		return nil
	}
	return []any{v}
}

// Hooks renders the node's pre-hooks or post-hooks (which is "pre-hook" or
// "post-hook"), those of dbt_project.yml first, in the node's context
// (this, config, ...), as dbt renders them right before they run. Empty
// hooks are left out.
func (p *Project) Hooks(id, which string, cc CompileContext) ([]string, error) {
	n, ok := p.Nodes[id]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no node %s", id)
	}
	hooks := hookList(n.Config[which])
	if len(hooks) == 0 {
		return nil, nil
	}
	rc := p.newRenderCall(n, compileMode, cc)
	return p.renderHooks(n.Path, n.Line, which+" of "+n.Name, hooks, rc.globals())
}

// RunHooks renders the project's on-run-start or on-run-end hooks. extra
// adds to their context (on-run-end's results and schemas).
func (p *Project) RunHooks(which string, extra map[string]any, cc CompileContext) ([]string, error) {
	hooks := p.onRun[which]
	if len(hooks) == 0 {
		return nil, nil
	}
	n := &tandem.Node{ID: "operation." + p.Name + "." + which, Name: which, Path: "dbt_project.yml", Materialized: tandem.View}
	rc := p.newRenderCall(n, compileMode, cc)
	g := rc.globals()
	for k, v := range extra {
		g[k] = v
	}
	return p.renderHooks("dbt_project.yml", 1, which, hooks, g)
}

func (p *Project) renderHooks(file string, line int, what string, hooks []any, g map[string]any) ([]string, error) {
	var out []string
	for i, h := range hooks {
		src := fmt.Sprint(h)
		t, err := parseTemplate(file, line, src)
		if err != nil {
			return nil, fmt.Errorf("%s, hook %d: %w", what, i+1, err)
		}
		sql, err := t.Render(g, p.macros)
		if err != nil {
			return nil, fmt.Errorf("%s, hook %d: %w", what, i+1, err)
		}
		if sql = strings.TrimSpace(sql); sql != "" {
			out = append(out, sql)
		}
	}
	return out, nil
}

// RunResultsContext is on-run-end's `results` and `schemas`: each result
// with its node, status, message and rows, and the schemas the run built in.
func (p *Project) RunResultsContext(run *tandem.Run) map[string]any {
	var results []any
	schemas := map[string]bool{}
	var schemaList []any
	for _, res := range run.Nodes {
		n := p.Nodes[res.Node]
		if n == nil {
			continue
		}
		results = append(results, map[string]any{
			"node": p.nodeContext(n), "status": string(res.Status), "message": res.Message,
			"execution_time": res.Duration.Seconds(), "adapter_response": map[string]any{"rows_affected": res.Rows},
		})
		if n.Kind == tandem.KindModel || n.Kind == tandem.KindSeed {
			if s := p.SchemaOf(n); !schemas[s] {
				schemas[s] = true
				schemaList = append(schemaList, s)
			}
		}
	}
	db := p.targetContext()["database"]
	dbSchemas := make([]any, len(schemaList))
	for i, s := range schemaList {
		dbSchemas[i] = jinja.Tuple{db, s}
	}
	return map[string]any{"results": results, "schemas": schemaList, "database_schemas": dbSchemas}
}
