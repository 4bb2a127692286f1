package jinja

import (
	"fmt"
	"strings"
)

// Set is Python's set, as dbt's set() returns it: members in insertion
// order, compared without regard to order.
type Set struct{ d *Dict }

// NewSet returns a set of items; unhashable items are an error.
func NewSet(items []any) (*Set, error) {
	s := &Set{d: NewDict()}
	for _, it := range items {
		if err := s.d.Set(it, true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// TypeName implements Typed.
func (s *Set) TypeName() string { return "set" }

// Iter implements Iterable.
func (s *Set) Iter() []any { return s.d.Keys() }

func (s *Set) has(v any) bool {
	if _, err := hashKey(v); err != nil {
		return false
	}
	_, ok := s.d.Get(v)
	return ok
}

// Eq implements Equaler.
func (s *Set) Eq(other any) bool {
	o, ok := other.(*Set)
	if !ok || o.d.Len() != s.d.Len() {
		return false
	}
	for _, k := range s.d.keys {
		if !o.has(k) {
			return false
		}
	}
	return true
}

func (s *Set) String() string {
	if s.d.Len() == 0 {
		return "set()"
	}
	var b strings.Builder
	writeSeq(&b, "{", s.d.Keys(), "}")
	return b.String()
}

func (s *Set) combine(op string, o *Set) *Set {
	out := &Set{d: NewDict()}
	switch op {
	case "|":
		for _, k := range s.d.keys {
			_ = out.d.Set(k, true)
		}
		for _, k := range o.d.keys {
			_ = out.d.Set(k, true)
		}
	case "&":
		for _, k := range s.d.keys {
			if o.has(k) {
				_ = out.d.Set(k, true)
			}
		}
	case "-":
		for _, k := range s.d.keys {
			if !o.has(k) {
				_ = out.d.Set(k, true)
			}
		}
	case "^":
		for _, k := range s.d.keys {
			if !o.has(k) {
				_ = out.d.Set(k, true)
			}
		}
		for _, k := range o.d.keys {
			if !s.has(k) {
				_ = out.d.Set(k, true)
			}
		}
	}
	return out
}

// BinOp implements Operand (- only: Jinja has no | & ^ operators).
func (s *Set) BinOp(op string, other any, reflected bool) (any, bool, error) {
	o, ok := other.(*Set)
	if !ok || op != "-" {
		return nil, false, nil
	}
	if reflected {
		return o.combine(op, s), true, nil
	}
	return s.combine(op, o), true, nil
}

// Attr implements Getter: the set methods templates call.
func (s *Set) Attr(name string) (any, bool) {
	arg := func(a *Args) (*Set, error) {
		v, _ := a.Arg(0, "")
		if o, ok := v.(*Set); ok {
			return o, nil
		}
		items, err := Iterate(v)
		if err != nil {
			return nil, err
		}
		return NewSet(items)
	}
	for op, method := range map[string]string{"|": "union", "&": "intersection", "-": "difference", "^": "symmetric_difference"} {
		if name == method {
			op := op
			return Func(func(a *Args) (any, error) {
				o, err := arg(a)
				if err != nil {
					return nil, err
				}
				return s.combine(op, o), nil
			}), true
		}
	}
	switch name {
	case "add":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			return nil, s.d.Set(v, true)
		}), true
	case "update":
		return Func(func(a *Args) (any, error) {
			o, err := arg(a)
			if err != nil {
				return nil, err
			}
			for _, k := range o.d.keys {
				_ = s.d.Set(k, true)
			}
			return nil, nil
		}), true
	case "discard", "remove":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			if !s.d.Delete(v) && name == "remove" {
				return nil, fmt.Errorf("KeyError: %s", Repr(v))
			}
			return nil, nil
		}), true
	case "issubset", "issuperset", "isdisjoint":
		return Func(func(a *Args) (any, error) {
			o, err := arg(a)
			if err != nil {
				return nil, err
			}
			switch name {
			case "issubset":
				return s.combine("-", o).d.Len() == 0, nil
			case "issuperset":
				return o.combine("-", s).d.Len() == 0, nil
			}
			return s.combine("&", o).d.Len() == 0, nil
		}), true
	case "copy":
		return Func(func(*Args) (any, error) { return s.combine("|", &Set{d: NewDict()}), nil }), true
	}
	return nil, false
}
