package jinja

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

var builtinFilters map[string]FilterFunc
var builtinTests map[string]TestFunc

func init() {
	builtinFilters = map[string]FilterFunc{
		"abs":        fAbs,
		"attribute":  func(r *Renderer, v any, a *Args) (any, error) { n, _ := a.Arg(0, "name"); return attrPath(v, Str(n)) },
		"batch":      fBatch,
		"capitalize": strFilter(capitalize),
		"center": func(r *Renderer, v any, a *Args) (any, error) {
			w, err := argInt(a, 0, "width", 80)
			return pad(Str(v), int(w), " ", '^'), err
		},
		"default":     fDefault,
		"d":           fDefault,
		"dictsort":    fDictsort,
		"escape":      fEscape,
		"e":           fEscape,
		"forceescape": fEscape,
		"first":       fFirst,
		"last":        fLast,
		"float":       fFloat,
		"int":         fInt,
		"format":      fFormat,
		"groupby":     fGroupby,
		"indent":      fIndent,
		"items":       fItems,
		"join":        fJoin,
		"length":      fLength,
		"count":       fLength,
		"list":        fList,
		"lower":       strFilter(strings.ToLower),
		"upper":       strFilter(strings.ToUpper),
		"title":       strFilter(titleCase),
		"map":         fMap,
		"max":         func(r *Renderer, v any, a *Args) (any, error) { return fMinMax(v, a, 1) },
		"min":         func(r *Renderer, v any, a *Args) (any, error) { return fMinMax(v, a, -1) },
		"pprint":      func(r *Renderer, v any, a *Args) (any, error) { return Repr(v), nil },
		"reject":      func(r *Renderer, v any, a *Args) (any, error) { return fSelect(r, v, a, false, false) },
		"rejectattr":  func(r *Renderer, v any, a *Args) (any, error) { return fSelect(r, v, a, false, true) },
		"select":      func(r *Renderer, v any, a *Args) (any, error) { return fSelect(r, v, a, true, false) },
		"selectattr":  func(r *Renderer, v any, a *Args) (any, error) { return fSelect(r, v, a, true, true) },
		"replace":     fReplace,
		"reverse":     fReverse,
		"round":       fRound,
		"safe":        func(r *Renderer, v any, a *Args) (any, error) { return Markup(Str(v)), nil },
		"slice":       fSlice,
		"sort":        fSort,
		"string":      func(r *Renderer, v any, a *Args) (any, error) { return r.str(v) },
		"striptags":   fStriptags,
		"sum":         fSum,
		"tojson":      fTojson,
		"trim":        fTrim,
		"truncate":    fTruncate,
		"unique":      fUnique,
		"urlencode":   fURLEncode,
		"wordcount": func(r *Renderer, v any, a *Args) (any, error) {
			return int64(len(reWord.FindAllString(Str(v), -1))), nil
		},
		"filesizeformat": fFilesize,
		// dbt's filters: in text they print the value; their typed value
		// is what YAML rendering keeps.
		"as_text":   func(r *Renderer, v any, a *Args) (any, error) { return r.str(v) },
		"as_bool":   fAsBool,
		"as_number": fAsNumber,
		"as_native": fAsNative,
	}
	builtinTests = map[string]TestFunc{
		"boolean":  func(r *Renderer, v any, a *Args) (bool, error) { _, ok := v.(bool); return ok, nil },
		"callable": func(r *Renderer, v any, a *Args) (bool, error) { return isCallable(v), nil },
		"defined":  func(r *Renderer, v any, a *Args) (bool, error) { _, u := v.(*Undefined); return !u, nil },
		"undefined": func(r *Renderer, v any, a *Args) (bool, error) {
			_, u := v.(*Undefined)
			return u, nil
		},
		"divisibleby": func(r *Renderer, v any, a *Args) (bool, error) {
			n, _ := a.Arg(0, "num")
			m, err := r.binary("%", v, n)
			if err != nil {
				return false, err
			}
			return Equal(m, int64(0)), nil
		},
		"escaped": func(r *Renderer, v any, a *Args) (bool, error) { _, ok := v.(Markup); return ok, nil },
		"even": func(r *Renderer, v any, a *Args) (bool, error) {
			n, ok := intOf(v)
			if !ok {
				return false, fmt.Errorf("'even' test needs an integer, got %s", TypeName(v))
			}
			return n%2 == 0, nil
		},
		"odd": func(r *Renderer, v any, a *Args) (bool, error) {
			n, ok := intOf(v)
			if !ok {
				return false, fmt.Errorf("'odd' test needs an integer, got %s", TypeName(v))
			}
			return n%2 != 0, nil
		},
		"false":   func(r *Renderer, v any, a *Args) (bool, error) { b, ok := v.(bool); return ok && !b, nil },
		"true":    func(r *Renderer, v any, a *Args) (bool, error) { b, ok := v.(bool); return ok && b, nil },
		"filter":  func(r *Renderer, v any, a *Args) (bool, error) { _, ok := r.env.Filters[Str(v)]; return ok, nil },
		"test":    func(r *Renderer, v any, a *Args) (bool, error) { _, ok := r.env.Tests[Str(v)]; return ok, nil },
		"float":   func(r *Renderer, v any, a *Args) (bool, error) { _, ok := v.(float64); return ok, nil },
		"integer": func(r *Renderer, v any, a *Args) (bool, error) { _, ok := v.(int64); return ok, nil },
		"number":  func(r *Renderer, v any, a *Args) (bool, error) { _, ok := number(v); return ok, nil },
		"string":  func(r *Renderer, v any, a *Args) (bool, error) { _, ok := asString(v); return ok, nil },
		"mapping": func(r *Renderer, v any, a *Args) (bool, error) {
			switch v.(type) {
			case *Dict, Mapping:
				return true, nil
			}
			return false, nil
		},
		"none": func(r *Renderer, v any, a *Args) (bool, error) { return v == nil, nil },
		"iterable": func(r *Renderer, v any, a *Args) (bool, error) {
			if _, u := v.(*Undefined); u {
				return true, nil
			}
			_, err := Iterate(v)
			return err == nil, nil
		},
		"sequence": func(r *Renderer, v any, a *Args) (bool, error) {
			switch v.(type) {
			case string, Markup, *List, Tuple, *Dict:
				return true, nil
			}
			return false, nil
		},
		"lower": func(r *Renderer, v any, a *Args) (bool, error) {
			s := Str(v)
			return strings.ToLower(s) == s && strings.ToUpper(s) != s, nil
		},
		"upper": func(r *Renderer, v any, a *Args) (bool, error) {
			s := Str(v)
			return strings.ToUpper(s) == s && strings.ToLower(s) != s, nil
		},
		"sameas": func(r *Renderer, v any, a *Args) (bool, error) {
			o, _ := a.Arg(0, "other")
			return sameAs(v, o), nil
		},
		"in": func(r *Renderer, v any, a *Args) (bool, error) {
			o, _ := a.Arg(0, "seq")
			return contains(o, v)
		},
	}
	for _, op := range [][]string{{"==", "eq", "equalto"}, {"!=", "ne"}, {"<", "lt", "lessthan"}, {"<=", "le"}, {">", "gt", "greaterthan"}, {">=", "ge"}} {
		sym := op[0]
		t := func(r *Renderer, v any, a *Args) (bool, error) {
			o, _ := a.Arg(0, "other")
			return compareOp(sym, v, o)
		}
		for _, n := range op {
			builtinTests[n] = t
		}
	}
}

var reWord = regexp.MustCompile(`\w+`)

func sameAs(a, b any) bool {
	switch a.(type) {
	case nil, bool:
		return a == b
	case *List, *Dict:
		return a == b
	}
	return Equal(a, b) && TypeName(a) == TypeName(b)
}

func isCallable(v any) bool {
	switch v.(type) {
	case Func, *Macro, *recursiveLoop, Callable:
		return true
	}
	return false
}

func strFilter(f func(string) string) FilterFunc {
	return func(r *Renderer, v any, a *Args) (any, error) {
		s, err := r.str(v)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func fAbs(r *Renderer, v any, a *Args) (any, error) {
	switch n := v.(type) {
	case int64:
		if n < 0 {
			return -n, nil
		}
		return n, nil
	case float64:
		return math.Abs(n), nil
	case bool:
		if n {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return nil, undefOr(v, fmt.Errorf("bad operand type for abs(): '%s'", TypeName(v)))
}

func fBatch(r *Renderer, v any, a *Args) (any, error) {
	n, err := argInt(a, 0, "linecount", 1)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("batch needs a positive size")
	}
	fill, hasFill := a.Arg(1, "fill_with")
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for i := 0; i < len(items); i += int(n) {
		end := min(i+int(n), len(items))
		chunk := append([]any{}, items[i:end]...)
		for hasFill && fill != nil && len(chunk) < int(n) {
			chunk = append(chunk, fill)
		}
		out = append(out, &List{Items: chunk})
	}
	return &List{Items: out}, nil
}

func fDefault(r *Renderer, v any, a *Args) (any, error) {
	def, ok := a.Arg(0, "default_value")
	if !ok {
		def = ""
	}
	boolean, _ := a.Arg(1, "boolean")
	if _, u := v.(*Undefined); u || Truth(boolean) && !Truth(v) {
		return def, nil
	}
	return v, nil
}

func fDictsort(r *Renderer, v any, a *Args) (any, error) {
	d, ok := v.(*Dict)
	if !ok {
		return nil, undefOr(v, fmt.Errorf("dictsort needs a dict, got %s", TypeName(v)))
	}
	cs, _ := a.Arg(0, "case_sensitive")
	by, _ := a.Arg(1, "by")
	rev, _ := a.Arg(2, "reverse")
	pos := 0
	if Str(by) == "value" {
		pos = 1
	}
	items := make([]any, d.Len())
	for i, k := range d.keys {
		items[i] = Tuple{k, d.vals[i]}
	}
	err := sortItems(items, func(x any) any {
		k := x.(Tuple)[pos]
		if s, ok := k.(string); ok && !Truth(cs) {
			return strings.ToLower(s)
		}
		return k
	}, Truth(rev))
	return &List{Items: items}, err
}

func sortItems(items []any, key func(any) any, rev bool) error {
	var err error
	keys := make([]any, len(items))
	for i, it := range items {
		keys[i] = key(it)
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		c, e := Compare(keys[idx[i]], keys[idx[j]])
		if e != nil {
			err = e
		}
		if rev {
			return c > 0
		}
		return c < 0
	})
	sorted := make([]any, len(items))
	for i, k := range idx {
		sorted[i] = items[k]
	}
	copy(items, sorted)
	return err
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

func fEscape(r *Renderer, v any, a *Args) (any, error) {
	if m, ok := v.(Markup); ok {
		return m, nil
	}
	return Markup(htmlEscaper.Replace(Str(v))), nil
}

func fFirst(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{Hint: "No first item, sequence was empty."}, nil
	}
	return items[0], nil
}

func fLast(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{Hint: "No last item, sequence was empty."}, nil
	}
	return items[len(items)-1], nil
}

func fFloat(r *Renderer, v any, a *Args) (any, error) {
	def, ok := a.Arg(0, "default")
	if !ok {
		def = 0.0
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case bool:
		f, _ := number(x)
		return f, nil
	case string, Markup:
		s, _ := asString(x)
		if f, err := strconv.ParseFloat(strings.TrimSpace(strings.ReplaceAll(s, "_", "")), 64); err == nil {
			return f, nil
		}
	}
	return def, nil
}

func fInt(r *Renderer, v any, a *Args) (any, error) {
	def, ok := a.Arg(0, "default")
	if !ok {
		def = int64(0)
	}
	base, err := argInt(a, 1, "base", 10)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case bool:
		n, _ := intOf(x)
		return n, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return def, nil
		}
		return int64(x), nil
	case string, Markup:
		s, _ := asString(x)
		s = strings.TrimSpace(strings.ReplaceAll(s, "_", ""))
		if n, err := strconv.ParseInt(s, int(base), 64); err == nil {
			return n, nil
		}
		if base == 16 || base == 8 || base == 2 {
			if n, err := strconv.ParseInt(s, 0, 64); err == nil {
				return n, nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(f), nil
		}
	}
	return def, nil
}

func fFormat(r *Renderer, v any, a *Args) (any, error) {
	if len(a.Kw) > 0 {
		d := NewDict()
		for _, kw := range a.Kw {
			_ = d.Set(kw.Key, kw.Value)
		}
		return percentFormat(Str(v), d)
	}
	return percentFormat(Str(v), Tuple(a.Pos))
}

// attrPath reads a dotted attribute path ("a.b", "0.name") of v.
func attrPath(v any, path string) (any, error) {
	for _, part := range strings.Split(path, ".") {
		var err error
		if n, e := strconv.Atoi(part); e == nil {
			v, err = getItem(v, int64(n))
		} else {
			v, err = getItem(v, part)
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func fGroupby(r *Renderer, v any, a *Args) (any, error) {
	attr, _ := a.Arg(0, "attribute")
	def, hasDef := a.Arg(1, "default")
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	key := func(it any) any {
		k, err := attrPath(it, Str(attr))
		if _, u := k.(*Undefined); (u || err != nil) && hasDef {
			return def
		}
		return k
	}
	sorted := append([]any{}, items...)
	if err := sortItems(sorted, key, false); err != nil {
		return nil, err
	}
	var out []any
	for _, it := range sorted {
		k := key(it)
		if n := len(out); n > 0 && Equal(out[n-1].(*group).grouper, k) {
			g := out[n-1].(*group)
			g.list.Items = append(g.list.Items, it)
			continue
		}
		out = append(out, &group{grouper: k, list: &List{Items: []any{it}}})
	}
	if out == nil {
		out = []any{}
	}
	return &List{Items: out}, nil
}

// group is what groupby yields: a (grouper, list) tuple with names.
type group struct {
	grouper any
	list    *List
}

func (g *group) Attr(name string) (any, bool) {
	switch name {
	case "grouper":
		return g.grouper, true
	case "list":
		return g.list, true
	}
	return nil, false
}

func (g *group) Iter() []any { return []any{g.grouper, g.list} }

func (g *group) String() string {
	return fmt.Sprintf("_GroupTuple(grouper=%s, list=%s)", Repr(g.grouper), Repr(g.list))
}

func fIndent(r *Renderer, v any, a *Args) (any, error) {
	w, _ := a.Arg(0, "width")
	ind := "    "
	if s, ok := asString(w); ok {
		ind = s
	} else if n, ok := intOf(w); ok {
		ind = strings.Repeat(" ", int(n))
	}
	first, _ := a.Arg(1, "first")
	blank, _ := a.Arg(2, "blank")
	s := Str(v) + "\n"
	lines := splitLines(s)
	var out string
	if Truth(blank) {
		out = strings.Join(lines, "\n"+ind)
	} else {
		out = lines[0]
		if len(lines) > 1 {
			rest := make([]string, len(lines)-1)
			for i, l := range lines[1:] {
				if l != "" {
					l = ind + l
				}
				rest[i] = l
			}
			out += "\n" + strings.Join(rest, "\n")
		}
	}
	if Truth(first) {
		out = ind + out
	}
	return out, nil
}

// splitLines is Python's str.splitlines for \n, \r\n and \r.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		lines = []string{""}
	}
	return lines
}

func fItems(r *Renderer, v any, a *Args) (any, error) {
	if _, u := v.(*Undefined); u {
		return &List{Items: []any{}}, nil
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, fmt.Errorf("can only get item pairs from a mapping")
	}
	m, _ := dictMethod(d, "items")
	return m.(Func)(&Args{})
}

func fJoin(r *Renderer, v any, a *Args) (any, error) {
	sep, _ := a.Arg(0, "d")
	attr, hasAttr := a.Arg(1, "attribute")
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(items))
	for i, it := range items {
		if hasAttr && attr != nil {
			if it, err = attrPath(it, Str(attr)); err != nil {
				return nil, err
			}
		}
		if parts[i], err = r.str(it); err != nil {
			return nil, err
		}
	}
	return strings.Join(parts, Str(orEmpty(sep))), nil
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func fLength(r *Renderer, v any, a *Args) (any, error) {
	n, err := Length(v)
	return int64(n), err
}

func fList(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	return &List{Items: append([]any{}, items...)}, nil
}

func fMap(r *Renderer, v any, a *Args) (any, error) {
	if !Truth(v) { // Jinja2 maps a falsy value (none, 0, "") to nothing
		return &List{}, nil
	}
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(items))
	if attr, ok := a.Kwarg("attribute"); ok {
		def, hasDef := a.Kwarg("default")
		for _, it := range items {
			x, err := attrPath(it, Str(attr))
			if err != nil {
				return nil, err
			}
			if _, u := x.(*Undefined); u && hasDef {
				x = def
			}
			out = append(out, x)
		}
		return &List{Items: out}, nil
	}
	if len(a.Pos) == 0 {
		return &List{Items: items}, nil
	}
	name := Str(a.Pos[0])
	f, ok := r.env.Filters[name]
	if !ok {
		return nil, fmt.Errorf("no filter named '%s'", name)
	}
	rest := &Args{Pos: a.Pos[1:], Kw: a.Kw}
	for _, it := range items {
		x, err := f(r, it, rest)
		if err != nil {
			return nil, err
		}
		out = append(out, FromGo(x))
	}
	return &List{Items: out}, nil
}

func fSelect(r *Renderer, v any, a *Args, keep, byAttr bool) (any, error) {
	if !Truth(v) { // as map: a falsy value selects nothing
		return &List{}, nil
	}
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	pos := a.Pos
	var attr string
	if byAttr {
		if len(pos) == 0 {
			return nil, fmt.Errorf("missing parameter for attribute name")
		}
		attr, pos = Str(pos[0]), pos[1:]
	}
	var test TestFunc
	rest := &Args{}
	if len(pos) > 0 {
		name := Str(pos[0])
		t, ok := r.env.Tests[name]
		if !ok {
			return nil, fmt.Errorf("no test named '%s'", name)
		}
		test = t
		rest = &Args{Pos: pos[1:], Kw: a.Kw}
	}
	out := []any{}
	for _, it := range items {
		x := it
		if byAttr {
			if x, err = attrPath(it, attr); err != nil {
				return nil, err
			}
		}
		ok := Truth(x)
		if test != nil {
			if ok, err = test(r, x, rest); err != nil {
				return nil, err
			}
		}
		if ok == keep {
			out = append(out, it)
		}
	}
	return &List{Items: out}, nil
}

func fReplace(r *Renderer, v any, a *Args) (any, error) {
	s, err := r.str(v)
	if err != nil {
		return nil, err
	}
	old, _ := a.Arg(0, "old")
	nw, _ := a.Arg(1, "new")
	n, err := argInt(a, 2, "count", -1)
	if err != nil {
		return nil, err
	}
	return strings.Replace(s, Str(old), Str(nw), int(n)), nil
}

func fReverse(r *Renderer, v any, a *Args) (any, error) {
	if s, ok := asString(v); ok {
		rs := []rune(s)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		return string(rs), nil
	}
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[len(items)-1-i] = it
	}
	return &List{Items: out}, nil
}

func fRound(r *Renderer, v any, a *Args) (any, error) {
	prec, err := argInt(a, 0, "precision", 0)
	if err != nil {
		return nil, err
	}
	method, ok := a.Arg(1, "method")
	if !ok {
		method = "common"
	}
	f, ok := number(v)
	if !ok {
		return nil, undefOr(v, fmt.Errorf("round needs a number, got %s", TypeName(v)))
	}
	p := math.Pow(10, float64(prec))
	switch Str(method) {
	case "common":
		// Python's round(): correctly rounded, half to even, on the
		// exact binary value, which is what FormatFloat does.
		g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(prec), 64), 64)
		return g, nil
	case "ceil":
		return math.Ceil(f*p) / p, nil
	case "floor":
		return math.Floor(f*p) / p, nil
	}
	return nil, fmt.Errorf("method must be common, ceil or floor")
}

func fSlice(r *Renderer, v any, a *Args) (any, error) {
	n, err := argInt(a, 0, "slices", 1)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("slice needs a positive count")
	}
	fill, hasFill := a.Arg(1, "fill_with")
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	per, extra := len(items)/int(n), len(items)%int(n)
	offset := 0
	out := []any{}
	for i := 0; i < int(n); i++ {
		start := offset + i*per
		if i < extra {
			offset++
		}
		end := offset + (i+1)*per
		chunk := append([]any{}, items[start:end]...)
		if hasFill && fill != nil && i >= extra && extra > 0 {
			chunk = append(chunk, fill)
		}
		out = append(out, &List{Items: chunk})
	}
	return &List{Items: out}, nil
}

func sortKey(attr any, cs bool) func(any) any {
	return func(it any) any {
		x := it
		if attr != nil {
			var parts []any
			for _, p := range strings.Split(Str(attr), ",") {
				y, _ := attrPath(it, strings.TrimSpace(p))
				parts = append(parts, y)
			}
			if len(parts) == 1 {
				x = parts[0]
			} else {
				x = Tuple(parts)
			}
		}
		if s, ok := x.(string); ok && !cs {
			return strings.ToLower(s)
		}
		return x
	}
}

func fSort(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	rev, _ := a.Arg(0, "reverse")
	cs, _ := a.Arg(1, "case_sensitive")
	attr, _ := a.Arg(2, "attribute")
	out := append([]any{}, items...)
	if err := sortItems(out, sortKey(attr, Truth(cs)), Truth(rev)); err != nil {
		return nil, err
	}
	return &List{Items: out}, nil
}

var reTags = regexp.MustCompile(`(?s)<!--.*?-->|<[^>]*>`)

func fStriptags(r *Renderer, v any, a *Args) (any, error) {
	s := reTags.ReplaceAllString(Str(v), "")
	return html.UnescapeString(strings.Join(strings.Fields(s), " ")), nil
}

func fSum(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	attr, _ := a.Arg(0, "attribute")
	var total any = int64(0)
	if s, ok := a.Arg(1, "start"); ok {
		total = s
	}
	for _, it := range items {
		if attr != nil {
			if it, err = attrPath(it, Str(attr)); err != nil {
				return nil, err
			}
		}
		if total, err = r.binary("+", total, it); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func fMinMax(v any, a *Args, sign int) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{Hint: "No aggregated item, sequence was empty."}, nil
	}
	cs, _ := a.Arg(0, "case_sensitive")
	attr, _ := a.Arg(1, "attribute")
	key := sortKey(attr, Truth(cs))
	best := items[0]
	for _, it := range items[1:] {
		c, err := Compare(key(it), key(best))
		if err != nil {
			return nil, err
		}
		if c*sign > 0 {
			best = it
		}
	}
	return best, nil
}

func fTojson(r *Renderer, v any, a *Args) (any, error) {
	s, err := JSON(v, true)
	if err != nil {
		return nil, err
	}
	s = strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`).Replace(s)
	return Markup(s), nil
}

// JSON writes v as Python's json.dumps does (", " and ": " separators,
// non-ASCII escaped), with keys sorted when sortKeys.
func JSON(v any, sortKeys bool) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, v, sortKeys); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *strings.Builder, v any, sortKeys bool) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(FloatRepr(x))
		}
	case string, Markup:
		s, _ := asString(x)
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"':
				b.WriteString(`\"`)
			case r == '\\':
				b.WriteString(`\\`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\f':
				b.WriteString(`\f`)
			case r < 0x20 || r > 0x7e && r < 0x10000:
				fmt.Fprintf(b, `\u%04x`, r)
			case r >= 0x10000:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	case *List, Tuple:
		items, _ := seqOf(x)
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeJSON(b, it, sortKeys); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case *Dict:
		keys := x.Keys()
		if sortKeys {
			if err := sortItems(keys, func(k any) any { return k }, false); err != nil {
				return err
			}
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			ks := Str(k)
			switch k.(type) {
			case bool, nil:
				ks = map[any]string{true: "true", false: "false", nil: "null"}[k]
			}
			if err := writeJSON(b, ks, sortKeys); err != nil {
				return err
			}
			b.WriteString(": ")
			val, _ := x.Get(k)
			if err := writeJSON(b, val, sortKeys); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case *Undefined:
		return x
	default:
		j, err := json.Marshal(ToGo(v))
		if err != nil {
			return fmt.Errorf("Object of type %s is not JSON serializable", TypeName(v))
		}
		b.Write(j)
	}
	return nil
}

func fTrim(r *Renderer, v any, a *Args) (any, error) {
	s, err := r.str(v)
	if err != nil {
		return nil, err
	}
	chars, ok := a.Arg(0, "chars")
	if ok && chars != nil {
		return strings.Trim(s, Str(chars)), nil
	}
	return strings.TrimFunc(s, unicode.IsSpace), nil
}

func fTruncate(r *Renderer, v any, a *Args) (any, error) {
	s := Str(v)
	length, err := argInt(a, 0, "length", 255)
	if err != nil {
		return nil, err
	}
	killwords, _ := a.Arg(1, "killwords")
	end := "..."
	if e, ok := a.Arg(2, "end"); ok {
		end = Str(e)
	}
	leeway, err := argInt(a, 3, "leeway", 5)
	if err != nil {
		return nil, err
	}
	rs := []rune(s)
	if int64(len(rs)) <= length+leeway {
		return s, nil
	}
	cut := string(rs[:max(int(length)-len([]rune(end)), 0)])
	if Truth(killwords) {
		return cut + end, nil
	}
	if i := strings.LastIndex(cut, " "); i >= 0 {
		cut = cut[:i]
	}
	return cut + end, nil
}

func fUnique(r *Renderer, v any, a *Args) (any, error) {
	items, err := Iterate(v)
	if err != nil {
		return nil, err
	}
	cs, _ := a.Arg(0, "case_sensitive")
	attr, _ := a.Arg(1, "attribute")
	key := sortKey(attr, Truth(cs))
	seen := NewDict()
	out := []any{}
	for _, it := range items {
		k := key(it)
		if _, dup := seen.Get(k); dup {
			continue
		}
		if err := seen.Set(k, true); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return &List{Items: out}, nil
}

func fFilesize(r *Renderer, v any, a *Args) (any, error) {
	f, ok := number(v)
	if !ok {
		if s, isStr := asString(v); isStr {
			f, _ = strconv.ParseFloat(s, 64)
		}
	}
	binary, _ := a.Arg(0, "binary")
	base := 1000.0
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	if Truth(binary) {
		base = 1024
		units = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	}
	if f == 1 {
		return "1 Byte", nil
	}
	if f < base {
		return fmt.Sprintf("%d Bytes", int64(f)), nil
	}
	for i, u := range units {
		unit := math.Pow(base, float64(i+2))
		if f < unit || i == len(units)-1 {
			return fmt.Sprintf("%.1f %s", base*f/unit, u), nil
		}
	}
	return "", nil
}

func fAsBool(r *Renderer, v any, a *Args) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string, Markup:
		s, _ := asString(x)
		switch strings.TrimSpace(s) {
		case "True", "true":
			return true, nil
		case "False", "false":
			return false, nil
		}
		return nil, fmt.Errorf("could not convert value %s into type bool", strRepr(s))
	}
	return Truth(v), nil
}

func fAsNumber(r *Renderer, v any, a *Args) (any, error) {
	switch x := v.(type) {
	case int64, float64:
		return x, nil
	case string, Markup:
		s, _ := asString(x)
		s = strings.TrimSpace(s)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
		return nil, fmt.Errorf("could not convert value %s into type number", strRepr(s))
	}
	return nil, fmt.Errorf("could not convert value of type %s into type number", TypeName(v))
}

func fAsNative(r *Renderer, v any, a *Args) (any, error) {
	s, ok := asString(v)
	if !ok {
		return v, nil
	}
	// Python literal_eval of simple literals.
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return f, nil
	}
	switch t {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	if strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "(") || strings.HasPrefix(t, "'") || strings.HasPrefix(t, `"`) {
		if val, err := r.Eval(t); err == nil {
			return val, nil
		}
	}
	return s, nil
}

// fURLEncode quotes as Python's urllib.parse.quote(safe="/") does; a dict
// or list of pairs becomes a query string.
func fURLEncode(r *Renderer, v any, a *Args) (any, error) {
	if d, ok := v.(*Dict); ok {
		parts := make([]string, d.Len())
		for i, k := range d.keys {
			parts[i] = urlQuote(Str(k), "") + "=" + urlQuote(Str(d.vals[i]), "")
		}
		return strings.Join(parts, "&"), nil
	}
	return urlQuote(Str(v), "/"), nil
}

func urlQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
