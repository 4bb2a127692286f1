// Package jinja is Tandem's Jinja engine: a lexer, parser and evaluator that
// compute what Jinja2 (the Python library dbt renders with) computes, with
// dbt's additions (return(), {% do %}, loop controls).
//
// Values follow Python's semantics: nil is None, int64 and float64 are
// numbers, *List and *Dict are mutable and shared by reference, Tuple is
// immutable, and printing a value prints what Python's str() would.
package jinja

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/tandem-data/tandem/internal/sorted"
)

// List is a Python list: mutable and shared by reference.
type List struct{ Items []any }

// NewList returns a list of the given items.
func NewList(items ...any) *List { return &List{Items: items} }

// Tuple is a Python tuple.
type Tuple []any

// Dict is a Python dict: insertion-ordered, mutable, shared by reference.
type Dict struct {
	keys []any
	vals []any
	idx  map[any]int
}

// NewDict returns an empty dict.
func NewDict() *Dict { return &Dict{idx: map[any]int{}} }

// hashKey normalises a key so that 1, 1.0 and True find the same entry, as
// in Python.
func hashKey(k any) (any, error) {
	switch v := k.(type) {
	case nil, string, int64:
		return v, nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v), nil
		}
		return v, nil
	case Tuple:
		return "\x00tuple" + Repr(v), nil
	case *List, *Dict, *Undefined:
	default:
		// Go values (a Relation, a macro) hash by value when comparable,
		// as Python objects hash by value or identity.
		if t := reflect.TypeOf(k); t != nil && t.Comparable() {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unhashable type: '%s'", TypeName(k))
}

// Set stores k = v.
func (d *Dict) Set(k, v any) error {
	h, err := hashKey(k)
	if err != nil {
		return err
	}
	if i, ok := d.idx[h]; ok {
		d.vals[i] = v
		return nil
	}
	d.idx[h] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// Get returns the value of k.
func (d *Dict) Get(k any) (any, bool) {
	h, err := hashKey(k)
	if err != nil {
		return nil, false
	}
	i, ok := d.idx[h]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Delete removes k and reports whether it was there.
func (d *Dict) Delete(k any) bool {
	h, err := hashKey(k)
	if err != nil {
		return false
	}
	i, ok := d.idx[h]
	if !ok {
		return false
	}
	delete(d.idx, h)
	d.keys = append(d.keys[:i], d.keys[i+1:]...)
	d.vals = append(d.vals[:i], d.vals[i+1:]...)
	for j := i; j < len(d.keys); j++ {
		hk, _ := hashKey(d.keys[j])
		d.idx[hk] = j
	}
	return true
}

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []any { return append([]any(nil), d.keys...) }

// Values returns the values in insertion order.
func (d *Dict) Values() []any { return append([]any(nil), d.vals...) }

// Copy returns a shallow copy.
func (d *Dict) Copy() *Dict {
	c := NewDict()
	for i, k := range d.keys {
		_ = c.Set(k, d.vals[i])
	}
	return c
}

// Getter is implemented by Go values that expose attributes to templates.
type Getter interface {
	Attr(name string) (any, bool)
}

// Mapping is implemented by Go values that templates see as dicts
// (`is mapping`, .get(), .keys(), .items()), as dbt's Relation is.
type Mapping interface {
	Getter
	Keys() []string
}

// Func is a function callable from templates.
type Func func(a *Args) (any, error)

// Args are the arguments of a call: positional, then keyword in call order.
type Args struct {
	Pos []any
	Kw  []Pair
	// R is the renderer making the call, for functions that call back
	// (a call block's caller).
	R *Renderer
}

// Pair is a keyword argument.
type Pair struct {
	Key   string
	Value any
}

// Kwarg returns the keyword argument named name.
func (a *Args) Kwarg(name string) (any, bool) {
	for _, p := range a.Kw {
		if p.Key == name {
			return p.Value, true
		}
	}
	return nil, false
}

// Arg returns the i-th positional argument, or the keyword argument name.
func (a *Args) Arg(i int, name string) (any, bool) {
	if i >= 0 && i < len(a.Pos) {
		return a.Pos[i], true
	}
	if name != "" {
		return a.Kwarg(name)
	}
	return nil, false
}

// Undefined is the value of a name or attribute that does not exist. It is
// falsy and iterates as empty, as Jinja2's default Undefined; printing it is
// an error only in strict mode.
type Undefined struct {
	Hint string // "'x' is undefined", "'dict object' has no attribute 'y'"
	// Name is set when the value is an undefined name (not a missing
	// attribute or an if-expression without else): what Env.StrictUndefined
	// refuses to print.
	Name string
}

func (u *Undefined) Error() string { return u.Hint }

// Markup is a string marked safe; printing leaves it as it is.
type Markup string

// FromGo converts Go values into template values: maps become dicts
// (sorted by key, so output is deterministic), slices become lists, Go
// integers int64. Values already of the template's types pass through.
func FromGo(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, *List, *Dict, Tuple, Func, *Undefined, Markup:
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = FromGo(e)
		}
		return &List{Items: l}
	case []string:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return &List{Items: l}
	case map[string]any:
		return sortedDict(x)
	case map[string]string:
		return sortedDict(x)
	case map[any]any:
		keys := make([]any, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return Str(keys[i]) < Str(keys[j]) })
		d := NewDict()
		for _, k := range keys {
			_ = d.Set(FromGo(k), FromGo(x[k]))
		}
		return d
	case func(a *Args) (any, error):
		return Func(x)
	}
	return v
}

// sortedDict is a dict of m's entries by sorted key, values converted.
func sortedDict[V any](m map[string]V) *Dict {
	d := NewDict()
	for _, k := range sorted.Keys(m) {
		_ = d.Set(k, FromGo(m[k]))
	}
	return d
}

// ToGo converts a template value into plain Go values: dicts with string
// keys become map[string]any, lists and tuples []any.
func ToGo(v any) any {
	switch x := v.(type) {
	case *List:
		out := make([]any, len(x.Items))
		for i, e := range x.Items {
			out[i] = ToGo(e)
		}
		return out
	case Tuple:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ToGo(e)
		}
		return out
	case *Dict:
		out := make(map[string]any, x.Len())
		for i, k := range x.keys {
			out[Str(k)] = ToGo(x.vals[i])
		}
		return out
	case Markup:
		return string(x)
	case *Undefined:
		return nil
	}
	return v
}

// TypeName is the Python type name of v, for error messages.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string, Markup:
		return "str"
	case *List:
		return "list"
	case Tuple:
		return "tuple"
	case *Dict:
		return "dict"
	case *Undefined:
		return "Undefined"
	case Func, *Macro:
		return "function"
	case Typed:
		return v.(Typed).TypeName()
	}
	return fmt.Sprintf("%T", v)
}

// Truth is Python's truthiness.
func Truth(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case Markup:
		return x != ""
	case *List:
		return len(x.Items) > 0
	case Tuple:
		return len(x) > 0
	case *Dict:
		return x.Len() > 0
	case *Set:
		return x.d.Len() > 0
	case *Undefined:
		return false
	}
	return true
}

// Str is Python's str(v).
func Str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case Markup:
		return string(x)
	case *Undefined:
		return ""
	case fmt.Stringer:
		return x.String()
	}
	return Repr(v)
}

// Repr is Python's repr(v).
func Repr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(FloatRepr(x))
	case string:
		b.WriteString(strRepr(x))
	case Markup:
		b.WriteString("Markup(" + strRepr(string(x)) + ")")
	case *List:
		writeSeq(b, "[", x.Items, "]")
	case Tuple:
		if len(x) == 1 {
			writeSeq(b, "(", x, ",)")
		} else {
			writeSeq(b, "(", x, ")")
		}
	case *Dict:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k)
			b.WriteString(": ")
			writeRepr(b, x.vals[i])
		}
		b.WriteByte('}')
	case *Undefined:
		b.WriteString("Undefined")
	case fmt.Stringer:
		b.WriteString(x.String())
	case Func, *Macro:
		b.WriteString("<function>")
	default:
		fmt.Fprint(b, x)
	}
}

func writeSeq(b *strings.Builder, open string, items []any, close string) {
	b.WriteString(open)
	for i, e := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(b, e)
	}
	b.WriteString(close)
}

// strRepr quotes s as Python's repr does: single quotes unless s holds a
// single quote and no double quote.
func strRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// FloatRepr formats f as Python's repr(float) does.
func FloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exps, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		if !strings.Contains(mant, ".") {
			// Python writes 1e+16, not 1.0e+16.
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s = strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// Equal is Python's ==.
func Equal(a, b any) bool {
	if ua, ok := a.(*Undefined); ok {
		_, ub := b.(*Undefined)
		return ub && ua != nil
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool, int64, float64:
		if fa, ok := number(a); ok {
			if fb, ok := number(b); ok {
				return fa == fb
			}
		}
		return false
	case string:
		switch y := b.(type) {
		case string:
			return x == y
		case Markup:
			return x == string(y)
		}
		return false
	case Markup:
		return Equal(string(x), b)
	case *List:
		y, ok := b.(*List)
		if !ok {
			return false
		}
		return seqEqual(x.Items, y.Items)
	case Tuple:
		y, ok := b.(Tuple)
		if !ok {
			return false
		}
		return seqEqual(x, y)
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i, k := range x.keys {
			w, ok := y.Get(k)
			if !ok || !Equal(x.vals[i], w) {
				return false
			}
		}
		return true
	case Equaler:
		return x.Eq(b)
	}
	return a == b
}

func seqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// number returns v as a float64 when it is a bool, int or float.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Compare orders a and b as Python's < does: -1, 0 or 1, or an error for
// types Python does not order.
func Compare(a, b any) (int, error) {
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			ia, aInt := a.(int64)
			ib, bInt := b.(int64)
			if aInt && bInt {
				return cmpOrdered(ia, ib), nil
			}
			return cmpOrdered(fa, fb), nil
		}
	}
	if sa, ok := asString(a); ok {
		if sb, ok := asString(b); ok {
			return strings.Compare(sa, sb), nil
		}
	}
	if o, ok := a.(Ordered); ok {
		if c, err := o.Cmp(b); err != errNotOrdered {
			return c, err
		}
	}
	la, aok := seqOf(a)
	lb, bok := seqOf(b)
	if aok && bok && isList(a) == isList(b) {
		for i := 0; i < len(la) && i < len(lb); i++ {
			if Equal(la[i], lb[i]) {
				continue
			}
			return Compare(la[i], lb[i])
		}
		return cmpOrdered(len(la), len(lb)), nil
	}
	return 0, fmt.Errorf("'<' not supported between instances of '%s' and '%s'", TypeName(a), TypeName(b))
}

func isList(v any) bool { _, ok := v.(*List); return ok }

func seqOf(v any) ([]any, bool) {
	switch x := v.(type) {
	case *List:
		return x.Items, true
	case Tuple:
		return x, true
	}
	return nil, false
}

func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case Markup:
		return string(x), true
	}
	return "", false
}

func cmpOrdered[T int | int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Iterate returns the items a for loop over v visits: a dict's keys, a
// string's characters.
func Iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case *List:
		return append([]any(nil), x.Items...), nil
	case Tuple:
		return x, nil
	case *Dict:
		return x.Keys(), nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case Markup:
		return Iterate(string(x))
	case *Undefined:
		return nil, nil
	case nil:
		return nil, fmt.Errorf("'NoneType' object is not iterable")
	case Iterable:
		return x.Iter(), nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", TypeName(v))
}

// Iterable is implemented by Go values that templates can loop over.
type Iterable interface{ Iter() []any }

// Length is Python's len(v).
func Length(v any) (int, error) {
	switch x := v.(type) {
	case string:
		return len([]rune(x)), nil
	case Markup:
		return len([]rune(string(x))), nil
	case *List:
		return len(x.Items), nil
	case Tuple:
		return len(x), nil
	case *Dict:
		return x.Len(), nil
	case *Undefined:
		return 0, nil
	case Iterable:
		return len(x.Iter()), nil
	}
	return 0, fmt.Errorf("object of type '%s' has no len()", TypeName(v))
}
