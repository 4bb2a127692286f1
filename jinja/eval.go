package jinja

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Env holds the filters, tests and behaviour shared by renders.
type Env struct {
	Filters map[string]FilterFunc
	Tests   map[string]TestFunc
	// StrictUndefined makes printing an undefined name an error, so a typo
	// fails with its name. Other undefined values (a missing attribute, an
	// if-expression without else) print as empty, as with Jinja2's default
	// Undefined, which dbt uses and packages rely on.
	StrictUndefined bool
	// MaxDepth bounds macro recursion (0: 200).
	MaxDepth int
}

// FilterFunc implements a filter: v | name(args).
type FilterFunc func(r *Renderer, v any, a *Args) (any, error)

// TestFunc implements a test: v is name(args).
type TestFunc func(r *Renderer, v any, a *Args) (bool, error)

// NewEnv returns an environment with Jinja2's built-in filters and tests.
func NewEnv() *Env {
	e := &Env{Filters: map[string]FilterFunc{}, Tests: map[string]TestFunc{}}
	for k, v := range builtinFilters {
		e.Filters[k] = v
	}
	for k, v := range builtinTests {
		e.Tests[k] = v
	}
	return e
}

// Error is a template that failed while rendering. Trace lists the macro
// calls in progress, outermost first.
type Error struct {
	File  string
	Line  int
	Msg   string
	Trace []TraceEntry
	Cause error // the error a Go function returned, if any
}

// TraceEntry is one macro call in progress: the macro and where it was
// called from.
type TraceEntry struct {
	Macro      string
	File       string // where the macro is defined
	CallerFile string
	CallerLine int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

func (e *Error) Unwrap() error { return e.Cause }

// returnSignal carries dbt's return(value) out of a macro.
type returnSignal struct{ value any }

func (returnSignal) Error() string { return "return() called outside a macro" }

var (
	errBreak    = errors.New("break outside a loop")
	errContinue = errors.New("continue outside a loop")
)

// builtinFrame holds Jinja2's global functions under every renderer's
// globals.
var builtinFrame = &frame{vars: Builtins()}

type frame struct {
	vars map[string]any
	// resolve, when set, finds names the frame does not hold (a package's
	// macros, bound on first use).
	resolve func(name string) (any, bool)
	parent  *frame
}

func (f *frame) lookup(name string) (any, bool) {
	for ; f != nil; f = f.parent {
		if v, ok := f.vars[name]; ok {
			return v, true
		}
		if f.resolve != nil {
			if v, ok := f.resolve(name); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// Scope is a namespace between a macro and the globals: dbt resolves a
// package macro's bare names in its own package first.
type Scope struct{ f *frame }

// NewScope returns a scope whose names resolve reaches before the
// renderer's globals.
func (r *Renderer) NewScope(resolve func(name string) (any, bool)) *Scope {
	return &Scope{&frame{resolve: resolve, parent: r.root}}
}

// BindIn makes a macro callable with its names resolved in s first.
func (r *Renderer) BindIn(m *Macro, s *Scope) *Macro {
	c := *m
	c.closure = s.f
	return &c
}

func (f *frame) set(name string, v any) {
	if f.vars == nil {
		f.vars = map[string]any{}
	}
	f.vars[name] = v
}

// Renderer renders templates with one set of globals; macros bound to it
// share those globals, as dbt's macros share its context.
type Renderer struct {
	env  *Env
	root *frame
	// Lookup, when set, resolves names missing from the globals (dbt's
	// macros of a project, bound on first use).
	Lookup func(name string) (any, bool)
	// current position, for errors
	file  string
	line  int
	trace []TraceEntry
	depth int
}

// NewRenderer returns a renderer over globals (converted with FromGo).
func (e *Env) NewRenderer(globals map[string]any) *Renderer {
	vars := make(map[string]any, len(globals)+4)
	for k, v := range globals {
		vars[k] = FromGo(v)
	}
	return &Renderer{env: e, root: &frame{vars: vars, parent: builtinFrame}}
}

// Set defines a global.
func (r *Renderer) Set(name string, v any) { r.root.set(name, FromGo(v)) }

// Get returns a global (or a name Lookup resolves).
func (r *Renderer) Get(name string) (any, bool) {
	if v, ok := r.root.lookup(name); ok {
		return v, true
	}
	if r.Lookup != nil {
		return r.Lookup(name)
	}
	return nil, false
}

// Bind makes a macro callable with this renderer's globals.
func (r *Renderer) Bind(m *Macro) *Macro {
	c := *m
	c.closure = r.root
	return &c
}

// Render renders t and returns its output.
func (r *Renderer) Render(t *Template) (string, error) {
	var b strings.Builder
	f := &frame{parent: r.root}
	saveFile, saveLine := r.file, r.line
	r.file = t.Name
	defer func() { r.file, r.line = saveFile, saveLine }()
	err := r.exec(t.body, f, &b)
	var ret returnSignal
	if errors.As(err, &ret) {
		return Str(ret.value), nil
	}
	if err != nil {
		return "", r.wrap(err)
	}
	return b.String(), nil
}

// Call calls a template value (a macro or a function) with args.
func (r *Renderer) Call(fn any, a *Args) (any, error) {
	v, err := r.call(fn, a, "")
	if err != nil {
		return nil, r.wrap(err)
	}
	return v, nil
}

// Eval parses and evaluates one expression with the renderer's globals.
func (r *Renderer) Eval(src string) (any, error) {
	toks, err := lex("<expr>", "{{"+src+"}}")
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks[1:], name: "<expr>", tpl: &Template{Macros: map[string]*Macro{}}}
	x, err := p.parseTuple(true, false)
	if err != nil {
		return nil, err
	}
	v, err := r.eval(x, &frame{parent: r.root})
	if err != nil {
		return nil, r.wrap(err)
	}
	return v, nil
}

func (r *Renderer) wrap(err error) error {
	var je *Error
	if errors.As(err, &je) {
		return err
	}
	if errors.Is(err, errBreak) || errors.Is(err, errContinue) {
		return &Error{File: r.file, Line: r.line, Msg: err.Error()}
	}
	return &Error{File: r.file, Line: r.line, Msg: err.Error(), Trace: append([]TraceEntry(nil), r.trace...), Cause: err}
}

// Errorf is an error raised by a template function; its message is shown
// as it is.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (r *Renderer) str(v any) (string, error) {
	if u, ok := v.(*Undefined); ok && u.Name != "" && r.env.StrictUndefined {
		return "", u
	}
	return Str(v), nil
}

// write prints v to w as {{ v }} does.
func (r *Renderer) write(w *strings.Builder, v any) error {
	s, err := r.str(v)
	if err != nil {
		return err
	}
	w.WriteString(s)
	return nil
}

func (r *Renderer) exec(ss []stmt, f *frame, w *strings.Builder) error {
	for _, s := range ss {
		switch x := s.(type) {
		case *dataStmt:
			w.WriteString(x.text)
		case *outputStmt:
			r.line = x.Line
			v, err := r.eval(x.x, f)
			if err != nil {
				return err
			}
			if err := r.write(w, v); err != nil {
				return err
			}
		case *ifStmt:
			r.line = x.Line
			done := false
			for i, c := range x.conds {
				v, err := r.eval(c, f)
				if err != nil {
					return err
				}
				if Truth(v) {
					if err := r.exec(x.bodies[i], f, w); err != nil {
						return err
					}
					done = true
					break
				}
			}
			if !done && x.els != nil {
				if err := r.exec(x.els, f, w); err != nil {
					return err
				}
			}
		case *forStmt:
			r.line = x.Line
			if err := r.execFor(x, f, w); err != nil {
				return err
			}
		case *setStmt:
			r.line = x.Line
			if err := r.execSet(x, f); err != nil {
				return err
			}
		case *macroStmt:
			m := *x.m
			m.closure = f
			f.set(m.Name, &m)
		case *callBlockStmt:
			r.line = x.Line
			caller := *x.caller
			caller.closure = f
			a, err := r.evalArgs(x.call.args, f)
			if err != nil {
				return err
			}
			a.Kw = append(a.Kw, Pair{"caller", &caller})
			fn, err := r.eval(x.call.fn, f)
			if err != nil {
				return err
			}
			v, err := r.call(fn, a, exprName(x.call.fn))
			if err != nil {
				return err
			}
			if err := r.write(w, v); err != nil {
				return err
			}
		case *filterBlockStmt:
			r.line = x.Line
			var b strings.Builder
			if err := r.exec(x.body, &frame{parent: f}, &b); err != nil {
				return err
			}
			var v any = b.String()
			for _, fe := range x.filters {
				var err error
				if v, err = r.applyFilter(fe, v, f); err != nil {
					return err
				}
			}
			if err := r.write(w, v); err != nil {
				return err
			}
		case *doStmt:
			r.line = x.Line
			if _, err := r.eval(x.x, f); err != nil {
				return err
			}
		case *withStmt:
			r.line = x.Line
			inner := &frame{parent: f}
			for i, t := range x.targets {
				v, err := r.eval(x.values[i], f)
				if err != nil {
					return err
				}
				if err := r.assign(t, v, inner); err != nil {
					return err
				}
			}
			if err := r.exec(x.body, inner, w); err != nil {
				return err
			}
		case *loopCtlStmt:
			if x.brk {
				return errBreak
			}
			return errContinue
		}
	}
	return nil
}

func exprName(e expr) string {
	switch x := e.(type) {
	case *nameExpr:
		return x.name
	case *attrExpr:
		if n := exprName(x.obj); n != "" {
			return n + "." + x.attr
		}
		return x.attr
	}
	return ""
}

func (r *Renderer) execSet(x *setStmt, f *frame) error {
	var v any
	if x.value != nil {
		var err error
		if v, err = r.eval(x.value, f); err != nil {
			return err
		}
	} else {
		var b strings.Builder
		if err := r.exec(x.body, f, &b); err != nil {
			return err
		}
		v = b.String()
		if x.filter != nil {
			var err error
			if v, err = r.applyFilterChain(x.filter, v, f); err != nil {
				return err
			}
		}
	}
	return r.assign(x.target, v, f)
}

// applyFilterChain applies a chain built by chainFilters to v.
func (r *Renderer) applyFilterChain(fe *filterExpr, v any, f *frame) (any, error) {
	if inner, ok := fe.obj.(*filterExpr); ok {
		var err error
		if v, err = r.applyFilterChain(inner, v, f); err != nil {
			return nil, err
		}
	}
	return r.applyFilter(fe, v, f)
}

func (r *Renderer) assign(target expr, v any, f *frame) error {
	switch t := target.(type) {
	case *nameExpr:
		f.set(t.name, v)
		return nil
	case *tupleExpr:
		items, err := Iterate(v)
		if err != nil {
			return err
		}
		if len(items) != len(t.items) {
			if len(items) > len(t.items) {
				return fmt.Errorf("too many values to unpack (expected %d)", len(t.items))
			}
			return fmt.Errorf("not enough values to unpack (expected %d, got %d)", len(t.items), len(items))
		}
		for i, it := range t.items {
			if err := r.assign(it, items[i], f); err != nil {
				return err
			}
		}
		return nil
	case *attrExpr:
		obj, err := r.eval(t.obj, f)
		if err != nil {
			return err
		}
		ns, ok := obj.(*Namespace)
		if !ok {
			return fmt.Errorf("cannot assign attribute on non-namespace object")
		}
		return ns.d.Set(t.attr, v)
	}
	return fmt.Errorf("cannot assign to this expression")
}

// Loop is the loop variable of a for statement.
type Loop struct {
	items    []any
	i        int
	depth    int
	r        *Renderer
	stmt     *forStmt
	f        *frame
	w        *strings.Builder
	lastSeen []any
	changed  bool
}

// Attr implements Getter.
func (l *Loop) Attr(name string) (any, bool) {
	n := len(l.items)
	switch name {
	case "index":
		return int64(l.i + 1), true
	case "index0":
		return int64(l.i), true
	case "revindex":
		return int64(n - l.i), true
	case "revindex0":
		return int64(n - l.i - 1), true
	case "first":
		return l.i == 0, true
	case "last":
		return l.i == n-1, true
	case "length":
		return int64(n), true
	case "depth":
		return int64(l.depth), true
	case "depth0":
		return int64(l.depth - 1), true
	case "previtem":
		if l.i > 0 {
			return l.items[l.i-1], true
		}
		return &Undefined{Hint: "there is no previous item"}, true
	case "nextitem":
		if l.i < n-1 {
			return l.items[l.i+1], true
		}
		return &Undefined{Hint: "there is no next item"}, true
	case "cycle":
		return Func(func(a *Args) (any, error) {
			if len(a.Pos) == 0 {
				return nil, fmt.Errorf("no items for cycling given")
			}
			return a.Pos[l.i%len(a.Pos)], nil
		}), true
	case "changed":
		return Func(func(a *Args) (any, error) {
			if l.lastSeen != nil && seqEqual(l.lastSeen, a.Pos) {
				return false, nil
			}
			l.lastSeen = append([]any(nil), a.Pos...)
			return true, nil
		}), true
	}
	return nil, false
}

func (l *Loop) String() string { return "<LoopContext>" }

func (r *Renderer) execFor(x *forStmt, f *frame, w *strings.Builder) error {
	it, err := r.eval(x.iter, f)
	if err != nil {
		return err
	}
	return r.loopOver(x, it, f, w, 1)
}

func (r *Renderer) loopOver(x *forStmt, it any, f *frame, w *strings.Builder, depth int) error {
	items, err := Iterate(it)
	if err != nil {
		return err
	}
	inner := &frame{parent: f}
	if x.filter != nil {
		kept := items[:0:0]
		for _, item := range items {
			if err := r.assign(x.target, item, inner); err != nil {
				return err
			}
			v, err := r.eval(x.filter, inner)
			if err != nil {
				return err
			}
			if Truth(v) {
				kept = append(kept, item)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		if x.els != nil {
			return r.exec(x.els, f, w)
		}
		return nil
	}
	loop := &Loop{items: items, depth: depth, r: r, stmt: x, f: f, w: w}
	var loopVal any = loop
	if x.recursive {
		loopVal = &recursiveLoop{loop}
	}
	for i, item := range items {
		loop.i = i
		if err := r.assign(x.target, item, inner); err != nil {
			return err
		}
		inner.set("loop", loopVal)
		err := r.exec(x.body, inner, w)
		if errors.Is(err, errBreak) {
			break
		}
		if errors.Is(err, errContinue) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// recursiveLoop is loop in a {% for ... recursive %}: loop(children)
// renders the body again one level deeper.
type recursiveLoop struct{ *Loop }

func (l *recursiveLoop) call(a *Args) (any, error) {
	if len(a.Pos) != 1 {
		return nil, fmt.Errorf("loop() takes one argument")
	}
	var b strings.Builder
	if err := l.r.loopOver(l.stmt, a.Pos[0], l.f, &b, l.depth+1); err != nil {
		return nil, err
	}
	return b.String(), nil
}

// Namespace is what namespace() returns: attributes settable with
// {% set ns.x = ... %} from inner scopes.
type Namespace struct{ d *Dict }

// Attr implements Getter.
func (n *Namespace) Attr(name string) (any, bool) { return n.d.Get(name) }

func (n *Namespace) String() string { return "<Namespace " + Repr(n.d) + ">" }

func (r *Renderer) evalArgs(ca callArgs, f *frame) (*Args, error) {
	a := &Args{}
	for _, e := range ca.pos {
		v, err := r.eval(e, f)
		if err != nil {
			return nil, err
		}
		a.Pos = append(a.Pos, v)
	}
	if ca.star != nil {
		v, err := r.eval(ca.star, f)
		if err != nil {
			return nil, err
		}
		items, err := Iterate(v)
		if err != nil {
			return nil, err
		}
		a.Pos = append(a.Pos, items...)
	}
	for i, k := range ca.kwKeys {
		v, err := r.eval(ca.kwVals[i], f)
		if err != nil {
			return nil, err
		}
		a.Kw = append(a.Kw, Pair{k, v})
	}
	if ca.dstar != nil {
		v, err := r.eval(ca.dstar, f)
		if err != nil {
			return nil, err
		}
		d, ok := v.(*Dict)
		if !ok {
			if _, u := v.(*Undefined); !u {
				return nil, fmt.Errorf("argument after ** must be a mapping, not %s", TypeName(v))
			}
			d = NewDict()
		}
		for i, k := range d.keys {
			a.Kw = append(a.Kw, Pair{Str(k), d.vals[i]})
		}
	}
	return a, nil
}

func (r *Renderer) call(fn any, a *Args, name string) (any, error) {
	switch x := fn.(type) {
	case *Macro:
		return r.callMacro(x, a)
	case Func:
		a.R = r
		v, err := x(a)
		if err != nil {
			return nil, err
		}
		return FromGo(v), nil
	case *recursiveLoop:
		return x.call(a)
	case *Undefined:
		if name != "" {
			return nil, fmt.Errorf("'%s' is undefined", name)
		}
		return nil, x
	case Callable:
		a.R = r
		v, err := x.Call(a)
		return FromGo(v), err
	}
	if name != "" {
		return nil, fmt.Errorf("'%s' is not callable (it is a %s)", name, TypeName(fn))
	}
	return nil, fmt.Errorf("'%s' object is not callable", TypeName(fn))
}

// Callable is implemented by Go values that templates can call.
// Indexable is implemented by Go values that answer obj[key] themselves
// (agate's MappedSequence: by position or by name).
type Indexable interface {
	Index(key any) (any, bool)
}

type Callable interface {
	Call(a *Args) (any, error)
}

func (r *Renderer) callMacro(m *Macro, a *Args) (any, error) {
	maxDepth := r.env.MaxDepth
	if maxDepth == 0 {
		maxDepth = 200
	}
	if r.depth >= maxDepth {
		return nil, fmt.Errorf("macro %s: calls nested deeper than %d (infinite recursion?)", m.Name, maxDepth)
	}
	f := &frame{parent: m.closure, vars: make(map[string]any, len(m.Params)+3)}
	if len(a.Pos) > len(m.Params) && !m.CatchVarargs {
		return nil, fmt.Errorf("macro '%s' takes not more than %d argument(s)", m.Name, len(m.Params))
	}
	set := make([]bool, len(m.Params))
	for i, v := range a.Pos {
		if i < len(m.Params) {
			f.vars[m.Params[i]] = v
			set[i] = true
		}
	}
	var varargs Tuple
	if len(a.Pos) > len(m.Params) {
		varargs = append(Tuple{}, a.Pos[len(m.Params):]...)
	}
	kwargs := NewDict()
	var caller any
	for _, kw := range a.Kw {
		idx := -1
		for i, p := range m.Params {
			if p == kw.Key {
				idx = i
				break
			}
		}
		switch {
		case idx >= 0:
			if set[idx] {
				return nil, fmt.Errorf("macro '%s' got multiple values for argument '%s'", m.Name, kw.Key)
			}
			f.vars[kw.Key] = kw.Value
			set[idx] = true
		case kw.Key == "caller":
			caller = kw.Value
		case m.CatchKwargs:
			_ = kwargs.Set(kw.Key, kw.Value)
		default:
			return nil, fmt.Errorf("macro '%s' takes no keyword argument '%s'", m.Name, kw.Key)
		}
	}
	f.vars["varargs"] = varargs
	if varargs == nil {
		f.vars["varargs"] = Tuple{}
	}
	f.vars["kwargs"] = kwargs
	if caller != nil {
		f.vars["caller"] = caller
	}
	saveFile, saveLine := r.file, r.line
	r.trace = append(r.trace, TraceEntry{Macro: m.Name, File: m.File, CallerFile: r.file, CallerLine: r.line})
	r.depth++
	r.file = m.File
	defer func() {
		r.depth--
		r.file, r.line = saveFile, saveLine
		r.trace = r.trace[:len(r.trace)-1]
	}()
	for i, p := range m.Params {
		if set[i] {
			continue
		}
		if m.defaults[i] != nil {
			v, err := r.eval(m.defaults[i], f)
			if err != nil {
				return nil, r.located(err)
			}
			f.vars[p] = v
		} else {
			f.vars[p] = &Undefined{Hint: fmt.Sprintf("parameter '%s' was not provided", p)}
		}
	}
	var b strings.Builder
	err := r.exec(m.body, f, &b)
	var ret returnSignal
	if errors.As(err, &ret) {
		return ret.value, nil
	}
	if err != nil {
		return nil, r.located(err)
	}
	return b.String(), nil
}

// located fixes an error at the position where it happened, inside the
// innermost macro, before the caller's position is restored.
func (r *Renderer) located(err error) error {
	var je *Error
	var ret returnSignal
	if errors.As(err, &je) || errors.As(err, &ret) || errors.Is(err, errBreak) || errors.Is(err, errContinue) {
		return err
	}
	return &Error{File: r.file, Line: r.line, Msg: err.Error(), Trace: append([]TraceEntry(nil), r.trace...), Cause: err}
}

func (r *Renderer) eval(e expr, f *frame) (any, error) {
	switch x := e.(type) {
	case *constExpr:
		return x.v, nil
	case *nameExpr:
		if v, ok := f.lookup(x.name); ok {
			return v, nil
		}
		if r.Lookup != nil {
			if v, ok := r.Lookup(x.name); ok {
				return v, nil
			}
		}
		u := &Undefined{Hint: fmt.Sprintf("'%s' is undefined", x.name), Name: x.name}
		if x.setInFile {
			u.Name = ""
		}
		return u, nil
	case *listExpr:
		l := &List{Items: make([]any, 0, len(x.items))}
		for _, it := range x.items {
			v, err := r.eval(it, f)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, v)
		}
		return l, nil
	case *tupleExpr:
		t := make(Tuple, 0, len(x.items))
		for _, it := range x.items {
			v, err := r.eval(it, f)
			if err != nil {
				return nil, err
			}
			t = append(t, v)
		}
		return t, nil
	case *dictExpr:
		d := NewDict()
		for i := range x.keys {
			k, err := r.eval(x.keys[i], f)
			if err != nil {
				return nil, err
			}
			v, err := r.eval(x.vals[i], f)
			if err != nil {
				return nil, err
			}
			if err := d.Set(k, v); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *attrExpr:
		obj, err := r.eval(x.obj, f)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, x.attr)
	case *itemExpr:
		obj, err := r.eval(x.obj, f)
		if err != nil {
			return nil, err
		}
		k, err := r.eval(x.key, f)
		if err != nil {
			return nil, err
		}
		return getItem(obj, k)
	case *sliceExpr:
		return r.evalSlice(x, f)
	case *callExpr:
		fn, err := r.eval(x.fn, f)
		if err != nil {
			return nil, err
		}
		a, err := r.evalArgs(x.args, f)
		if err != nil {
			return nil, err
		}
		r.line = x.Line
		return r.call(fn, a, exprName(x.fn))
	case *filterExpr:
		var v any
		if x.obj != nil {
			var err error
			if v, err = r.eval(x.obj, f); err != nil {
				return nil, err
			}
		}
		return r.applyFilter(x, v, f)
	case *testExpr:
		v, err := r.eval(x.obj, f)
		if err != nil {
			return nil, err
		}
		t, ok := r.env.Tests[x.name]
		if !ok {
			return nil, fmt.Errorf("no test named '%s'", x.name)
		}
		a, err := r.evalArgs(x.args, f)
		if err != nil {
			return nil, err
		}
		ok, err = t(r, v, a)
		if err != nil {
			return nil, err
		}
		return ok != x.neg, nil
	case *binExpr:
		l, err := r.eval(x.l, f)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "and":
			if !Truth(l) {
				return l, nil
			}
			return r.eval(x.r, f)
		case "or":
			if Truth(l) {
				return l, nil
			}
			return r.eval(x.r, f)
		}
		rv, err := r.eval(x.r, f)
		if err != nil {
			return nil, err
		}
		return r.binary(x.op, l, rv)
	case *unaryExpr:
		v, err := r.eval(x.x, f)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !Truth(v), nil
		case "-":
			switch n := v.(type) {
			case int64:
				return -n, nil
			case float64:
				return -n, nil
			case bool:
				if n {
					return int64(-1), nil
				}
				return int64(0), nil
			case *TimeDelta:
				return &TimeDelta{-n.us}, nil
			}
			return nil, undefOr(v, fmt.Errorf("bad operand type for unary -: '%s'", TypeName(v)))
		default:
			switch n := v.(type) {
			case int64, float64:
				return n, nil
			case bool:
				if n {
					return int64(1), nil
				}
				return int64(0), nil
			}
			return nil, undefOr(v, fmt.Errorf("bad operand type for unary +: '%s'", TypeName(v)))
		}
	case *compareExpr:
		l, err := r.eval(x.first, f)
		if err != nil {
			return nil, err
		}
		for i, op := range x.ops {
			rv, err := r.eval(x.rest[i], f)
			if err != nil {
				return nil, err
			}
			ok, err := compareOp(op, l, rv)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			l = rv
		}
		return true, nil
	case *concatExpr:
		var b strings.Builder
		for _, p := range x.parts {
			v, err := r.eval(p, f)
			if err != nil {
				return nil, err
			}
			s, err := r.str(v)
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	case *condExpr:
		t, err := r.eval(x.test, f)
		if err != nil {
			return nil, err
		}
		if Truth(t) {
			return r.eval(x.then, f)
		}
		if x.els == nil {
			return &Undefined{Hint: "the inline if-expression evaluated to false and no else section was defined"}, nil
		}
		return r.eval(x.els, f)
	}
	return nil, fmt.Errorf("cannot evaluate %T", e)
}

// undefOr returns the undefined value's own error when v is undefined.
func undefOr(v any, err error) error {
	if u, ok := v.(*Undefined); ok {
		return u
	}
	return err
}

func (r *Renderer) applyFilter(fe *filterExpr, v any, f *frame) (any, error) {
	fn, ok := r.env.Filters[fe.name]
	if !ok {
		return nil, fmt.Errorf("no filter named '%s'", fe.name)
	}
	a, err := r.evalArgs(fe.args, f)
	if err != nil {
		return nil, err
	}
	r.line = fe.Line
	out, err := fn(r, v, a)
	if err != nil {
		return nil, err
	}
	return FromGo(out), nil
}

func compareOp(op string, l, r any) (bool, error) {
	switch op {
	case "==":
		return Equal(l, r), nil
	case "!=":
		return !Equal(l, r), nil
	case "in":
		return contains(r, l)
	case "notin":
		ok, err := contains(r, l)
		return !ok, err
	}
	if u, ok := l.(*Undefined); ok {
		return false, u
	}
	if u, ok := r.(*Undefined); ok {
		return false, u
	}
	c, err := Compare(l, r)
	if err != nil {
		return false, fmt.Errorf("'%s' not supported between instances of '%s' and '%s'", op, TypeName(l), TypeName(r))
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func contains(container, item any) (bool, error) {
	switch c := container.(type) {
	case string, Markup:
		s, ok := asString(item)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires string as left operand, not %s", TypeName(item))
		}
		cs, _ := asString(c)
		return strings.Contains(cs, s), nil
	case *Dict:
		if _, err := hashKey(item); err != nil {
			return false, err
		}
		_, ok := c.Get(item)
		return ok, nil
	case *Set:
		if _, err := hashKey(item); err != nil {
			return false, err
		}
		return c.has(item), nil
	case *Undefined:
		return false, nil
	case Getter:
		if s, ok := item.(string); ok {
			_, found := c.Attr(s)
			return found, nil
		}
		return false, nil
	}
	items, err := Iterate(container)
	if err != nil {
		return false, fmt.Errorf("argument of type '%s' is not iterable", TypeName(container))
	}
	for _, it := range items {
		if Equal(it, item) {
			return true, nil
		}
	}
	return false, nil
}

func (r *Renderer) binary(op string, l, rv any) (any, error) {
	if op == "%" {
		if s, ok := asString(l); ok {
			return percentFormat(s, rv)
		}
	}
	li, lInt := intOf(l)
	ri, rInt := intOf(rv)
	lf, lNum := number(l)
	rf, rNum := number(rv)
	if lNum && rNum {
		both := lInt && rInt
		switch op {
		case "+":
			if both {
				return li + ri, nil
			}
			return lf + rf, nil
		case "-":
			if both {
				return li - ri, nil
			}
			return lf - rf, nil
		case "*":
			if both {
				return li * ri, nil
			}
			return lf * rf, nil
		case "/":
			if rf == 0 {
				return nil, fmt.Errorf("division by zero")
			}
			return lf / rf, nil
		case "//":
			if rf == 0 {
				return nil, fmt.Errorf("integer division or modulo by zero")
			}
			if both {
				q := li / ri
				if (li%ri != 0) && ((li < 0) != (ri < 0)) {
					q--
				}
				return q, nil
			}
			return math.Floor(lf / rf), nil
		case "%":
			if rf == 0 {
				return nil, fmt.Errorf("integer division or modulo by zero")
			}
			if both {
				m := li % ri
				if m != 0 && (m < 0) != (ri < 0) {
					m += ri
				}
				return m, nil
			}
			m := math.Mod(lf, rf)
			if m != 0 && (m < 0) != (rf < 0) {
				m += rf
			}
			if m == 0 {
				m = math.Copysign(0, rf)
			}
			return m, nil
		case "**":
			if both && ri >= 0 {
				out := int64(1)
				for i := int64(0); i < ri; i++ {
					out *= li
				}
				return out, nil
			}
			if lf == 0 && rf < 0 {
				return nil, fmt.Errorf("0.0 cannot be raised to a negative power")
			}
			if lf < 0 && rf != math.Trunc(rf) {
				return nil, fmt.Errorf("a negative number raised to a fractional power is complex, which templates do not support")
			}
			p := math.Pow(lf, rf)
			if math.IsInf(p, 0) {
				return nil, fmt.Errorf("numerical result out of range")
			}
			return p, nil
		}
	}
	switch op {
	case "+":
		if ls, ok := asString(l); ok {
			if rs, ok := asString(rv); ok {
				return ls + rs, nil
			}
		}
		if ll, ok := l.(*List); ok {
			if rl, ok := rv.(*List); ok {
				out := make([]any, 0, len(ll.Items)+len(rl.Items))
				return &List{Items: append(append(out, ll.Items...), rl.Items...)}, nil
			}
		}
		if lt, ok := l.(Tuple); ok {
			if rt, ok := rv.(Tuple); ok {
				return append(append(Tuple{}, lt...), rt...), nil
			}
		}
	case "*":
		if n, ok := intOf(rv); ok {
			if s, ok := asString(l); ok {
				return strings.Repeat(s, int(max(n, 0))), nil
			}
			if ll, ok := l.(*List); ok {
				out := []any{}
				for i := int64(0); i < n; i++ {
					out = append(out, ll.Items...)
				}
				return &List{Items: out}, nil
			}
		}
		if n, ok := intOf(l); ok {
			if s, ok := asString(rv); ok {
				return strings.Repeat(s, int(max(n, 0))), nil
			}
			if _, ok := seqOf(rv); ok {
				return r.binary("*", rv, l)
			}
		}
		if t, ok := l.(Tuple); ok {
			if n, ok := intOf(rv); ok {
				out := Tuple{}
				for i := int64(0); i < n; i++ {
					out = append(out, t...)
				}
				return out, nil
			}
		}
	}
	if u, ok := l.(*Undefined); ok {
		return nil, u
	}
	if o, ok := l.(Operand); ok {
		if v, ok, err := o.BinOp(op, rv, false); ok {
			return v, err
		}
	}
	if o, ok := rv.(Operand); ok {
		if v, ok, err := o.BinOp(op, l, true); ok {
			return v, err
		}
	}
	if u, ok := rv.(*Undefined); ok {
		return nil, u
	}
	return nil, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, TypeName(l), TypeName(rv))
}

func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func (r *Renderer) evalSlice(x *sliceExpr, f *frame) (any, error) {
	obj, err := r.eval(x.obj, f)
	if err != nil {
		return nil, err
	}
	var idx [3]*int64
	for i, e := range []expr{x.start, x.stop, x.stp} {
		if e == nil {
			continue
		}
		v, err := r.eval(e, f)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		n, ok := intOf(v)
		if !ok {
			return nil, fmt.Errorf("slice indices must be integers or None")
		}
		idx[i] = &n
	}
	return sliceOf(obj, idx[0], idx[1], idx[2])
}

func sliceOf(obj any, start, stop, step *int64) (any, error) {
	var items []any
	var kind int
	switch x := obj.(type) {
	case string, Markup:
		s, _ := asString(x)
		for _, r := range s {
			items = append(items, string(r))
		}
		kind = 1
	case *List:
		items = x.Items
	case Tuple:
		items, kind = x, 2
	case *Undefined:
		return x, nil
	default:
		return nil, fmt.Errorf("'%s' object is not subscriptable", TypeName(obj))
	}
	n := int64(len(items))
	st := int64(1)
	if step != nil {
		st = *step
	}
	if st == 0 {
		return nil, fmt.Errorf("slice step cannot be zero")
	}
	norm := func(p *int64, def int64, lo, hi int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
		}
		return min(max(v, lo), hi)
	}
	var out []any
	if st > 0 {
		a, b := norm(start, 0, 0, n), norm(stop, n, 0, n)
		for i := a; i < b; i += st {
			out = append(out, items[i])
		}
	} else {
		a, b := norm(start, n-1, -1, n-1), norm(stop, -1, -1, n-1)
		if stop != nil && *stop < 0 && *stop+n < 0 {
			b = -1
		}
		for i := a; i > b; i += st {
			out = append(out, items[i])
		}
	}
	switch kind {
	case 1:
		var b strings.Builder
		for _, s := range out {
			b.WriteString(s.(string))
		}
		return b.String(), nil
	case 2:
		return Tuple(out), nil
	}
	if out == nil {
		out = []any{}
	}
	return &List{Items: out}, nil
}

// getAttr is Jinja2's getattr: an attribute (a method), then an item.
func getAttr(obj any, name string) (any, error) {
	if u, ok := obj.(*Undefined); ok {
		return nil, u
	}
	if m, ok := method(obj, name); ok {
		return m, nil
	}
	switch x := obj.(type) {
	case *Dict:
		if v, ok := x.Get(name); ok {
			return v, nil
		}
	case Getter:
		if v, ok := x.Attr(name); ok {
			return FromGo(v), nil
		}
	}
	return &Undefined{Hint: fmt.Sprintf("'%s' has no attribute '%s'", objDesc(obj), name)}, nil
}

// getItem is Jinja2's getitem: an item, then an attribute.
func getItem(obj any, key any) (any, error) {
	if u, ok := obj.(*Undefined); ok {
		return nil, u
	}
	if ix, ok := obj.(Indexable); ok {
		if v, ok := ix.Index(key); ok {
			return FromGo(v), nil
		}
	}
	switch x := obj.(type) {
	case *Dict:
		if v, ok := x.Get(key); ok {
			return v, nil
		}
	case *List, Tuple, string, Markup:
		if i, ok := intOf(key); ok {
			items, _ := Iterate(x)
			if i < 0 {
				i += int64(len(items))
			}
			if i >= 0 && i < int64(len(items)) {
				return items[i], nil
			}
			return &Undefined{Hint: fmt.Sprintf("'%s' has no element %d", objDesc(obj), i)}, nil
		}
	case Getter:
		if s, ok := key.(string); ok {
			if v, ok := x.Attr(s); ok {
				return FromGo(v), nil
			}
		}
	}
	if s, ok := key.(string); ok {
		if m, ok := method(obj, s); ok {
			return m, nil
		}
		return &Undefined{Hint: fmt.Sprintf("'%s' has no attribute '%s'", objDesc(obj), s)}, nil
	}
	return &Undefined{Hint: fmt.Sprintf("'%s' has no element %s", objDesc(obj), Repr(key))}, nil
}

func objDesc(obj any) string {
	switch obj.(type) {
	case *Dict:
		return "dict object"
	case *List:
		return "list object"
	case Tuple:
		return "tuple object"
	case string, Markup:
		return "str object"
	case nil:
		return "None"
	case int64:
		return "int object"
	case float64:
		return "float object"
	case bool:
		return "bool object"
	}
	return TypeName(obj) + " object"
}
