package project

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"

	"github.com/tandem-data/tandem"
)

func init() {
	// gonja logs through logrus at info level by default; a CLI must not.
	gonja.SetLoggerOutput(io.Discard)
}

// jinjaConfig is shared by every template: strict undefined names, so a typo
// fails at render time with its name instead of rendering as empty SQL.
var jinjaConfig = func() *config.Config {
	c := config.New()
	c.StrictUndefined = true
	c.KeepTrailingNewline = true
	return c
}()

// Template is a parsed Jinja template of a project file.
type Template struct {
	File string // relative path, for errors
	Line int    // line of the file where the template text starts (1-based)
	tpl  *exec.Template
}

// parseTemplate parses src. Errors name file and line.
func parseTemplate(file string, line int, src string) (_ *Template, err error) {
	defer func() {
		// The parser is fuzzed; a panic on odd input must become an error.
		if r := recover(); r != nil {
			err = tandem.FileErrorf(tandem.EINVALID, file, line, "Jinja syntax error: %v", r)
		}
	}()
	// gonja's lexer does not stop on invalid UTF-8 inside a tag (found by
	// FuzzTemplate); project files must be UTF-8 anyway.
	if !utf8.ValidString(src) {
		bad := firstInvalid([]byte(src))
		return nil, tandem.FileErrorf(tandem.EINVALID, file, line+strings.Count(src[:bad], "\n"), "not valid UTF-8 text; save the file as UTF-8")
	}
	tpl, err := exec.NewTemplate(file, jinjaConfig, memLoader{src}, environment)
	if err != nil {
		return nil, jinjaError(file, line, err, nil)
	}
	return &Template{File: file, Line: line, tpl: tpl}, nil
}

type memLoader struct{ src string }

func (l memLoader) Read(string) (io.Reader, error)         { return strings.NewReader(l.src), nil }
func (l memLoader) Resolve(p string) (string, error)       { return p, nil }
func (l memLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

var environment = &exec.Environment{
	// Jinja's none and None literals are names in gonja; with strict
	// undefined names they must exist.
	Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables).Update(exec.NewContext(map[string]any{"none": nil, "None": nil})),
	Filters:           builtins.Filters,
	Tests:             builtins.Tests,
	ControlStructures: builtins.ControlStructures,
	Methods:           builtins.Methods,
}

var (
	reLine      = regexp.MustCompile(`(?i)line[: ]+(\d+)`)
	reNotCall   = regexp.MustCompile(`(?:^|[ :])([A-Za-z_][A-Za-z0-9_]*) is not callable`)
	reUndefined = regexp.MustCompile(`Unable to evaluate name "([^"]+)"`)
	rePosSuffix = regexp.MustCompile(`\s*\(Line: \d+ Col: \d+, near "[^"]*"\)`)
	reParseErr  = regexp.MustCompile(`failed to parse template '(?s:.*)': `)
)

// jinjaError turns a gonja error into one line naming file, line and, for an
// undefined name, the nearest known one.
func jinjaError(file string, base int, err error, known []string) error {
	if te, ok := err.(*tandem.Error); ok {
		return te
	}
	msg := err.Error()
	// A user error raised by our own functions (ref to a missing model, a
	// missing var) travels through gonja as text; keep the innermost part.
	if i := strings.Index(msg, userErrorMark); i >= 0 {
		msg = msg[i+len(userErrorMark):]
		if j := strings.Index(msg, userErrorMark); j >= 0 {
			msg = msg[:j]
		}
	} else {
		msg = reParseErr.ReplaceAllString(msg, "")
		msg = rePosSuffix.ReplaceAllString(msg, "")
	}
	line := 0
	if m := reLine.FindAllStringSubmatch(err.Error(), -1); len(m) > 0 {
		// The innermost position is the last one gonja mentions.
		line, _ = strconv.Atoi(m[len(m)-1][1])
	}
	m := reUndefined.FindStringSubmatch(err.Error())
	if m == nil {
		m = reNotCall.FindStringSubmatch(err.Error())
	}
	if m != nil && !strings.Contains(err.Error(), userErrorMark) {
		msg = fmt.Sprintf("%q is undefined", m[1])
		if near := nearest(m[1], known); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
	}
	if line > 0 {
		line += base - 1
	} else {
		line = base
	}
	return tandem.FileErrorf(tandem.EINVALID, file, line, "%s", strings.TrimSpace(oneLine(msg)))
}

// userErrorMark delimits messages of errors raised by our template functions,
// so they survive gonja's wrapping unchanged.
const userErrorMark = "\x00"

func userError(format string, args ...any) error {
	return fmt.Errorf("%s%s%s", userErrorMark, fmt.Sprintf(format, args...), userErrorMark)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
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

// GetAttribute implements gonja's AttributeGetter.
func (r Relation) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "schema":
		return exec.AsValue(r.Schema), true
	case "name", "identifier", "table":
		return exec.AsValue(r.Name), true
	case "database":
		return exec.AsValue(r.Database), true
	case "render":
		return exec.AsValue(func() string { return r.String() }), true
	}
	return exec.AsValue(nil), false
}

// QuoteIdent quotes an SQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// renderState carries per-render state that macros need: the stack of
// return() values of the macro calls in progress.
type renderState struct {
	returns []*any
}

// Render executes t with the given globals and the project's macros.
// macroFiles names the file of each macro, for errors raised inside one.
func (t *Template) Render(globals map[string]any, macros map[string]*nodes.Macro, macroFiles map[string]string) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = tandem.FileErrorf(tandem.EINVALID, t.File, t.Line, "template failed: %v", r)
		}
	}()
	st := &renderState{}
	ctx := environment.Context.Inherit().Update(exec.NewContext(globals))
	ctx.Set("return", func(v any) string {
		if n := len(st.returns); n > 0 {
			st.returns[n-1] = &v
		}
		return ""
	})
	env := &exec.Environment{
		Context:           ctx,
		Filters:           environment.Filters,
		Tests:             environment.Tests,
		ControlStructures: environment.ControlStructures,
		Methods:           environment.Methods,
	}
	var b strings.Builder
	r := exec.NewRenderer(env, &b, jinjaConfig, memLoader{}, t.tpl)
	for name, node := range macros {
		fn, err := exec.MacroNodeToFunc(node, r)
		if err != nil {
			return "", jinjaError(t.File, t.Line, err, nil)
		}
		ctx.Set(name, exec.Macro(func(params *exec.VarArgs) *exec.Value {
			st.returns = append(st.returns, nil)
			v := fn(params)
			ret := st.returns[len(st.returns)-1]
			st.returns = st.returns[:len(st.returns)-1]
			if ret != nil && !v.IsError() {
				return exec.AsValue(*ret)
			}
			return v
		}))
	}
	// adapter.dispatch('name') finds duckdb__name, then default__name, then
	// name, as dbt does for the duckdb adapter.
	ctx.Set("adapter", map[string]any{
		"dispatch": func(name string, _ ...any) (any, error) {
			for _, cand := range []string{"duckdb__" + name, "default__" + name, name} {
				if v, ok := ctx.Get(cand); ok {
					return v, nil
				}
			}
			return nil, userError("adapter.dispatch: no macro duckdb__%s or default__%s in the project's macros", name, name)
		},
		"quote": func(s string) string { return QuoteIdent(s) },
	})
	if err := r.Execute(); err != nil {
		known := make([]string, 0, len(globals)+len(macros))
		for k := range globals {
			known = append(known, k)
		}
		for k := range macros {
			known = append(known, k)
		}
		sort.Strings(known)
		return "", macroError(t, err, known, macroFiles)
	}
	return b.String(), nil
}

// envVar implements env_var(name, default).
func envVar(args *exec.VarArgs) (any, error) {
	name, def, hasDef, err := nameAndDefault("env_var", args)
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

var reInMacro = regexp.MustCompile(`Unable to execute macro '([^']+)'`)

// macroError places an error raised inside a macro: the model's line that
// called it, and the macro's own file and line.
func macroError(t *Template, err error, known []string, macroFiles map[string]string) error {
	msg := err.Error()
	loc := reInMacro.FindAllStringSubmatchIndex(msg, -1)
	if len(loc) == 0 || strings.Contains(msg, userErrorMark) && strings.Index(msg, userErrorMark) < loc[0][0] {
		return jinjaError(t.File, t.Line, err, known)
	}
	outer := 0
	if m := reLine.FindAllStringSubmatch(msg[:loc[0][0]], -1); len(m) > 0 {
		outer, _ = strconv.Atoi(m[len(m)-1][1])
	}
	name := msg[loc[len(loc)-1][2]:loc[len(loc)-1][3]]
	inner := jinjaError(macroFiles[name], 1, err, known).(*tandem.Error)
	where := inner.File
	if inner.Line > 0 {
		where = fmt.Sprintf("%s:%d", inner.File, inner.Line)
	}
	return tandem.FileErrorf(tandem.EINVALID, t.File, t.Line+max(outer, 1)-1, "in macro %s (%s): %s", name, where, inner.Message)
}

// QuoteString quotes s as an SQL string literal.
func QuoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
