package project

import (
	"errors"
	"fmt"

	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/jinja"
)

// reWholeExpr matches a value that is one {{ expression }}: its typed
// result (a number from as_number, a bool from as_bool) is kept.
var reWholeExpr = regexp.MustCompile(`(?s)^\s*\{\{(.*)\}\}\s*$`)

// hookKeys are rendered when the hook runs, not when the file is read, as
// dbt does.
var hookKeys = map[string]bool{"pre-hook": true, "post-hook": true, "pre_hook": true, "post_hook": true, "+pre-hook": true, "+post-hook": true, "on-run-start": true, "on-run-end": true,
	// vars are rendered where they are used
	"vars": true}

// renderYAML renders the Jinja in every string value under n, in place, as
// dbt renders profiles.yml and dbt_project.yml.
func renderYAML(file string, n *yaml.Node, globals map[string]any) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := renderYAML(file, c, globals); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if hookKeys[n.Content[i].Value] {
				continue
			}
			if err := renderYAML(file, n.Content[i+1], globals); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "{{") && !strings.Contains(n.Value, "{%") {
			return nil
		}
		v, err := renderValue(file, n.Line, n.Value, globals)
		if err != nil {
			return err
		}
		setScalar(n, v)
	}
	return nil
}

// renderValue renders one YAML value: a whole {{ expression }} keeps its
// type; anything else renders to text.
func renderValue(file string, line int, src string, globals map[string]any) (any, error) {
	r := jinjaEnv.NewRenderer(dbtBuiltins)
	for k, v := range globals {
		r.Set(k, v)
	}
	if m := reWholeExpr.FindStringSubmatch(src); m != nil && !strings.Contains(m[1], "}}") {
		v, err := r.Eval(m[1])
		if err != nil {
			return nil, yamlJinjaError(file, line, err)
		}
		if _, undef := v.(*jinja.Undefined); undef {
			return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "%s is undefined here", strings.TrimSpace(m[1]))
		}
		return jinja.ToGo(v), nil
	}
	t, err := parseTemplate(file, line, src)
	if err != nil {
		return nil, err
	}
	out, err := r.Render(t.tpl)
	if err != nil {
		return nil, yamlJinjaError(file, line, err)
	}
	return out, nil
}

func yamlJinjaError(file string, line int, err error) error {
	msg := err.Error()
	if ue, ok := errorsAsUser(err); ok {
		msg = ue
	} else if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "<expr>") || strings.HasPrefix(msg, file) {
		msg = msg[i+2:]
	}
	return tandem.FileErrorf(tandem.EINVALID, file, line, "%s", oneLine(msg))
}

func setScalar(n *yaml.Node, v any) {
	n.Style = 0
	switch x := v.(type) {
	case nil:
		n.Tag, n.Value = "!!null", "null"
	case bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(x)
	case int64:
		n.Tag, n.Value = "!!int", strconv.FormatInt(x, 10)
	case float64:
		n.Tag, n.Value = "!!float", strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		n.Tag, n.Value = "!!str", x
	default:
		n.Tag, n.Value = "!!str", fmt.Sprint(x)
	}
}

// yamlGlobals is what Jinja in profiles.yml and dbt_project.yml can use.
func yamlGlobals(vars map[string]any, target map[string]any) map[string]any {
	g := map[string]any{
		"env_var": jinja.Func(envVar),
		"var": jinja.Func(func(a *jinja.Args) (any, error) {
			name, def, hasDef, err := nameAndDefault("var", a)
			if err != nil {
				return nil, err
			}
			if v, ok := vars[name]; ok {
				return v, nil
			}
			if hasDef {
				return def, nil
			}
			return nil, userError("var('%s') is not set: pass --vars '{%s: ...}' or give a default", name, name)
		}),
	}
	if target != nil {
		g["target"] = target
	}
	return g
}

func errorsAsUser(err error) (string, bool) {
	var ue *userErr
	if errors.As(err, &ue) {
		return ue.msg, true
	}
	return "", false
}

// targetContext is target in templates: the profile's selected output.
func (p *Project) targetContext() map[string]any {
	db := strings.TrimSuffix(filepath.Base(p.Target.Path), filepath.Ext(p.Target.Path))
	return map[string]any{
		"name": p.Target.Name, "schema": p.Target.Schema, "type": "duckdb", "threads": p.Target.Threads,
		"database": db, "profile_name": p.Name, "path": p.Target.Path,
	}
}

// yamlHasJinja reports whether any value under n holds Jinja.
func yamlHasJinja(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return strings.Contains(n.Value, "{{") || strings.Contains(n.Value, "{%")
	}
	for _, c := range n.Content {
		if yamlHasJinja(c) {
			return true
		}
	}
	return false
}
