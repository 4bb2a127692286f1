package jinja

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Builtins are Jinja2's global functions: range, dict, namespace, joiner,
// cycler.
func Builtins() map[string]any {
	return map[string]any{
		"range": Func(func(a *Args) (any, error) {
			var lo, hi, step int64 = 0, 0, 1
			nums := make([]int64, len(a.Pos))
			for i, p := range a.Pos {
				n, ok := intOf(p)
				if !ok {
					return nil, fmt.Errorf("'%s' object cannot be interpreted as an integer", TypeName(p))
				}
				nums[i] = n
			}
			switch len(nums) {
			case 1:
				hi = nums[0]
			case 2:
				lo, hi = nums[0], nums[1]
			case 3:
				lo, hi, step = nums[0], nums[1], nums[2]
			default:
				return nil, fmt.Errorf("range expected 1 to 3 arguments, got %d", len(nums))
			}
			if step == 0 {
				return nil, fmt.Errorf("range() arg 3 must not be zero")
			}
			out := []any{}
			for i := lo; step > 0 && i < hi || step < 0 && i > hi; i += step {
				if len(out) > 100000 {
					return nil, fmt.Errorf("range too big, refusing more than 100000 items")
				}
				out = append(out, i)
			}
			return &List{Items: out}, nil
		}),
		"dict": Func(func(a *Args) (any, error) {
			d := NewDict()
			if len(a.Pos) > 0 {
				m, _ := dictMethod(d, "update")
				if _, err := m.(Func)(&Args{Pos: a.Pos[:1]}); err != nil {
					return nil, err
				}
			}
			for _, kw := range a.Kw {
				_ = d.Set(kw.Key, kw.Value)
			}
			return d, nil
		}),
		"namespace": Func(func(a *Args) (any, error) {
			d := NewDict()
			for _, p := range a.Pos {
				if src, ok := p.(*Dict); ok {
					for i, k := range src.keys {
						_ = d.Set(k, src.vals[i])
					}
				}
			}
			for _, kw := range a.Kw {
				_ = d.Set(kw.Key, kw.Value)
			}
			return &Namespace{d: d}, nil
		}),
		"joiner": Func(func(a *Args) (any, error) {
			sep := ", "
			if s, ok := a.Arg(0, "sep"); ok {
				sep = Str(s)
			}
			used := false
			return Func(func(*Args) (any, error) {
				if !used {
					used = true
					return "", nil
				}
				return sep, nil
			}), nil
		}),
		"cycler": Func(func(a *Args) (any, error) {
			return &cycler{items: a.Pos}, nil
		}),
	}
}

type cycler struct {
	items []any
	pos   int
}

func (c *cycler) Attr(name string) (any, bool) {
	switch name {
	case "current":
		return c.items[c.pos], true
	case "next":
		return Func(func(*Args) (any, error) {
			v := c.items[c.pos]
			c.pos = (c.pos + 1) % len(c.items)
			return v, nil
		}), true
	case "reset":
		return Func(func(*Args) (any, error) { c.pos = 0; return nil, nil }), true
	}
	return nil, false
}

// DBTBuiltins are the Python helpers dbt adds to every template: return(),
// zip, set, tojson, fromjson, print, and the modules namespace. print and
// log write to w.
func DBTBuiltins(w io.Writer) map[string]any {
	return map[string]any{
		"return": Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			return nil, returnSignal{v}
		}),
		"zip": Func(func(a *Args) (any, error) {
			var seqs [][]any
			n := math.MaxInt
			for _, p := range a.Pos {
				items, err := Iterate(p)
				if err != nil {
					return nil, err
				}
				seqs = append(seqs, items)
				n = min(n, len(items))
			}
			if len(seqs) == 0 {
				n = 0
			}
			out := make([]any, n)
			for i := 0; i < n; i++ {
				t := make(Tuple, len(seqs))
				for j := range seqs {
					t[j] = seqs[j][i]
				}
				out[i] = t
			}
			return &List{Items: out}, nil
		}),
		"set": Func(func(a *Args) (any, error) {
			if len(a.Pos) == 0 {
				return NewSet(nil)
			}
			items, err := Iterate(a.Pos[0])
			if err != nil {
				return nil, err
			}
			return NewSet(items)
		}),
		"tojson": Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "value")
			sk, _ := a.Arg(2, "sort_keys")
			s, err := JSON(v, Truth(sk))
			if err != nil {
				if def, ok := a.Arg(1, "default"); ok {
					return def, nil
				}
				return nil, err
			}
			return s, nil
		}),
		"fromjson": Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "string")
			var out any
			dec := json.NewDecoder(strings.NewReader(Str(v)))
			dec.UseNumber()
			if err := dec.Decode(&out); err != nil {
				if def, ok := a.Arg(1, "default"); ok {
					return def, nil
				}
				return nil, fmt.Errorf("fromjson: %v", err)
			}
			return fromJSON(out), nil
		}),
		"print": Func(func(a *Args) (any, error) {
			parts := make([]string, len(a.Pos))
			for i, p := range a.Pos {
				parts[i] = Str(p)
			}
			if w != nil {
				fmt.Fprintln(w, strings.Join(parts, " "))
			}
			return "", nil
		}),
	}
}

// fromJSON turns decoded JSON into template values: numbers become int64
// or float64, then FromGo builds lists and dicts. JSON objects keep their
// order in Python; Go's decoder loses it, so keys come sorted.
func fromJSON(v any) any { return FromGo(jsonNumbers(v)) }

func jsonNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = jsonNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonNumbers(x[k])
		}
	}
	return v
}
