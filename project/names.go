package project

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
)

// nodeContext is the node as dbt's Jinja sees it (`model`, and the `node`
// argument of generate_schema_name): name, resource_type, fqn, config, ...
func (p *Project) nodeContext(n *tandem.Node) map[string]any {
	fqn := []any{p.Name}
	dir := filepath.Dir(n.Path)
	if parts := strings.Split(filepath.ToSlash(dir), "/"); dir != "." {
		fqn = append(fqn, toAnySlice(parts[1:])...) // below models/, seeds/, ...
	}
	fqn = append(fqn, n.Name)
	cfg := map[string]any{}
	for k, v := range n.Config {
		cfg[k] = v
	}
	cfg["materialized"] = n.Materialized
	cfg["schema"] = nilIfEmpty(n.Schema)
	cfg["alias"] = nilIfEmpty(n.Alias)
	cfg["tags"] = toAnySlice(n.Tags)
	return map[string]any{
		"name": n.Name, "unique_id": n.ID, "resource_type": string(n.Kind), "package_name": p.Name,
		"path": n.Path, "original_file_path": n.Path, "fqn": fqn, "config": cfg, "tags": toAnySlice(n.Tags),
		"alias": n.Relation(), "schema": p.SchemaOf(n), "database": p.targetContext()["database"],
		"description": n.Description, "meta": n.Meta, "raw_code": n.RawSQL, "raw_sql": n.RawSQL,
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// resolveNames applies the project's generate_schema_name,
// generate_alias_name and generate_database_name macros, when it defines
// them, to every model, seed and snapshot, as dbt does when it parses.
func (p *Project) resolveNames() error {
	schemaM, aliasM, dbM := p.macros.byName["generate_schema_name"], p.macros.byName["generate_alias_name"], p.macros.byName["generate_database_name"]
	if schemaM == nil && aliasM == nil && dbM == nil {
		return nil
	}
	database := fmt.Sprint(p.targetContext()["database"])
	for _, id := range p.Order {
		n := p.Nodes[id]
		if n.Kind != tandem.KindModel && n.Kind != tandem.KindSeed && n.Kind != tandem.KindSnapshot {
			continue
		}
		call := func(macro, arg string) (string, error) {
			t, err := parseTemplate(n.Path, n.Line, "{{ "+macro+"(__custom, __node) }}")
			if err != nil {
				return "", err
			}
			rc := p.newRenderCall(n, compileMode, CompileContext{})
			g := rc.globals()
			g["__custom"] = nilIfEmpty(arg)
			g["__node"] = p.nodeContext(n)
			out, err := t.Render(g, p.macros)
			return strings.TrimSpace(out), err
		}
		if dbM != nil {
			got, err := call("generate_database_name", str(n.Config["database"]))
			if err != nil {
				return err
			}
			if got != "" && got != database {
				return tandem.FileErrorf(tandem.EINVALID, n.Path, n.Line, "generate_database_name puts %s in database %q; Tandem builds every model in the target's one DuckDB database (%q)", n.Name, got, database)
			}
		}
		if _, fixed := p.schemas[n.ID]; schemaM != nil && !fixed { // a snapshot's target_schema stands
			got, err := call("generate_schema_name", n.Schema)
			if err != nil {
				return err
			}
			if got == "" {
				return tandem.FileErrorf(tandem.EINVALID, p.macroFiles["generate_schema_name"], 1, "generate_schema_name returned an empty schema for %s", n.Name)
			}
			p.schemas[n.ID] = got
		}
		if aliasM != nil {
			got, err := call("generate_alias_name", n.Alias)
			if err != nil {
				return err
			}
			if got != "" && got != n.Name {
				n.Alias = got
			}
		}
	}
	return nil
}

// lazyNode is `model` in a template: the node's context, built on first use
// (most templates never read it).
type lazyNode struct {
	p *Project
	n *tandem.Node
	m map[string]any
}

func (l *lazyNode) Attr(name string) (any, bool) {
	if l.m == nil {
		l.m = l.p.nodeContext(l.n)
	}
	v, ok := l.m[name]
	return v, ok
}

func (l *lazyNode) Keys() []string {
	if l.m == nil {
		l.m = l.p.nodeContext(l.n)
	}
	return sorted.Keys(l.m)
}
