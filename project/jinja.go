package project

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/jinja"
)

// jinjaEnv is shared by every template: printing an undefined name is an
// error naming it, so a typo fails instead of rendering as empty SQL.
var jinjaEnv = func() *jinja.Env {
	e := jinja.NewEnv()
	e.StrictUndefined = true
	return e
}()

// dbtBuiltins are dbt's Python helpers (return, zip, set, tojson, ...);
// print writes to stderr, where it cannot corrupt a command's output.
var dbtBuiltins = jinja.DBTBuiltins(os.Stderr)

// Template is a parsed Jinja template of a project file.
type Template struct {
	File string // relative path, for errors
	Line int    // line of the file where the template text starts (1-based)
	tpl  *jinja.Template
}

// parseTemplate parses src. Errors name file and line.
func parseTemplate(file string, line int, src string) (*Template, error) {
	tpl, err := jinja.Parse(file, src, jinja.Options{KeepTrailingNewline: true})
	if err != nil {
		var se *jinja.SyntaxError
		if errors.As(err, &se) {
			msg := se.Msg
			if msg == "not valid UTF-8 text" {
				bad := firstInvalid([]byte(src))
				return nil, tandem.FileErrorf(tandem.EINVALID, file, line+strings.Count(src[:bad], "\n"), "not valid UTF-8 text; save the file as UTF-8")
			}
			return nil, tandem.FileErrorf(tandem.EINVALID, file, line+se.Line-1, "Jinja syntax error: %s", msg)
		}
		return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "Jinja syntax error: %v", err)
	}
	return &Template{File: file, Line: line, tpl: tpl}, nil
}

// userErr is an error raised by Tandem's template functions (a ref to a
// missing model, a missing var): its message is shown as it is.
type userErr struct{ msg string }

func (e *userErr) Error() string { return e.msg }

func userError(format string, args ...any) error {
	return &userErr{fmt.Sprintf(format, args...)}
}

var reUndefinedName = regexp.MustCompile(`^'([^']+)' is undefined$`)

// renderError turns an engine error into one line naming file and line:
// for an error inside a macro, the template's line that called it and the
// macro's own file and line; for an undefined name, the nearest known one.
func renderError(t *Template, err error, known func() []string) error {
	var te *tandem.Error
	if errors.As(err, &te) {
		return te
	}
	var je *jinja.Error
	if !errors.As(err, &je) {
		return tandem.FileErrorf(tandem.EINVALID, t.File, t.Line, "%s", oneLine(err.Error()))
	}
	msg := je.Msg
	var ue *userErr
	if errors.As(err, &ue) {
		msg = ue.msg
	} else if m := reUndefinedName.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("%q is undefined", m[1])
		if known != nil {
			msg += Suggest(m[1], known())
		}
	}
	msg = oneLine(msg)
	if len(je.Trace) == 0 {
		return tandem.FileErrorf(tandem.EINVALID, t.File, t.Line+max(je.Line, 1)-1, "%s", msg)
	}
	outer := je.Trace[0].CallerLine
	inner := je.Trace[len(je.Trace)-1]
	where := je.File
	if je.Line > 0 {
		where = fmt.Sprintf("%s:%d", je.File, je.Line)
	}
	return tandem.FileErrorf(tandem.EINVALID, t.File, t.Line+max(outer, 1)-1, "in macro %s (%s): %s", inner.Macro, where, msg)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return strings.TrimSpace(s)
}

// Nearest returns the candidate closest to name by edit distance, or ""
// when none is close: what "did you mean" messages suggest.
func Nearest(name string, candidates []string) string { return nearest(name, candidates) }

// Suggest is "; did you mean X?" when a candidate is close to name, else "".
func Suggest(name string, candidates []string) string {
	if best := nearest(name, candidates); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

// nearest returns the candidate closest to name by edit distance, if close.
func nearest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Relation is what ref(), source() and this render to. It prints as a quoted
// schema.name and exposes .schema, .name, .identifier and .database.
type Relation struct {
	Database, Schema, Name string
	// Expr, when set, is what the relation renders to instead of a name
	// (an external source such as read_csv(...), or an ephemeral CTE).
	Expr string
}

func (r Relation) String() string {
	if r.Expr != "" {
		return r.Expr
	}
	if r.Schema == "" {
		return QuoteIdent(r.Name)
	}
	return QuoteIdent(r.Schema) + "." + QuoteIdent(r.Name)
}

// Attr implements jinja.Getter: what dbt's Relation exposes.
func (r Relation) Attr(name string) (any, bool) {
	switch name {
	case "schema":
		return r.Schema, true
	case "name", "identifier", "table":
		return r.Name, true
	case "database":
		return r.Database, true
	case "type":
		return "table", true
	case "is_table":
		return true, true
	case "is_view", "is_cte":
		return false, true
	case "render":
		return jinja.Func(func(*jinja.Args) (any, error) { return r.String(), nil }), true
	case "include", "quote", "incorporate":
		return jinja.Func(func(*jinja.Args) (any, error) { return r, nil }), true
	case "metadata":
		return map[string]any{"type": "DuckDBRelation"}, true
	case "path":
		return map[string]any{"database": r.Database, "schema": r.Schema, "identifier": r.Name}, true
	}
	return nil, false
}

// Keys implements jinja.Mapping: a dbt Relation is a mapping.
func (r Relation) Keys() []string { return []string{"path", "type", "metadata"} }

// QuoteIdent quotes an SQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// macroOverridesKey carries a unit test's overrides: macros: into Render.
const macroOverridesKey = "__tandem_macro_overrides"

// Render executes t with the given globals and the project's macros.
func (t *Template) Render(globals map[string]any, ms *macroSet) (string, error) {
	r := jinjaEnv.NewRenderer(dbtBuiltins)
	for k, v := range globals {
		r.Set(k, v)
	}
	b := newBinder(ms, r)
	if ov, ok := globals[macroOverridesKey].(map[string]any); ok {
		b.overrides = ov
	}
	r.Lookup = b.global
	adapter := map[string]any{
		"dispatch": jinja.Func(b.dispatch),
		"quote": jinja.Func(func(a *jinja.Args) (any, error) {
			v, _ := a.Arg(0, "identifier")
			return QuoteIdent(jinja.Str(v)), nil
		}),
	}
	if more, ok := globals["adapter"].(map[string]any); ok {
		for k, v := range more {
			adapter[k] = v
		}
	}
	r.Set("adapter", adapter)
	out, err := r.Render(t.tpl)
	if err != nil {
		return "", renderError(t, err, func() []string {
			known := make([]string, 0, len(globals)+len(ms.byName))
			for k := range globals {
				known = append(known, k)
			}
			for k := range ms.byName {
				known = append(known, k)
			}
			sort.Strings(known)
			return known
		})
	}
	return out, nil
}

// envVar implements env_var(name, default).
func envVar(a *jinja.Args) (any, error) {
	name, def, hasDef, err := nameAndDefault("env_var", a)
	if err != nil {
		return nil, err
	}
	if v, ok := os.LookupEnv(name); ok {
		return v, nil
	}
	if hasDef {
		return def, nil
	}
	return nil, userError("env var %q is not set and env_var() was given no default; set it or pass a default: env_var(%q, 'value')", name, name)
}

// QuoteString quotes s as an SQL string literal.
func QuoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
