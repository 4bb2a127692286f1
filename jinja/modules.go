package jinja

import (
	"fmt"
	"regexp"
	"strings"
)

// ReModule is dbt's modules.re: Python's re module for the patterns RE2
// shares with it (no backreferences or lookaround in patterns).
func ReModule() *Dict {
	d := NewDict()
	compile := func(a *Args, flagsAt int) (*regexp.Regexp, error) {
		pv, _ := a.Arg(0, "pattern")
		if p, ok := pv.(*pattern); ok {
			return p.re, nil
		}
		src := Str(pv)
		flags, _ := a.Arg(flagsAt, "flags")
		if n, ok := intOf(flags); ok && n&2 != 0 {
			src = "(?i)" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("re: pattern %s is not supported: %v", strRepr(Str(pv)), err)
		}
		return re, nil
	}
	_ = d.Set("IGNORECASE", int64(2))
	_ = d.Set("I", int64(2))
	_ = d.Set("compile", Func(func(a *Args) (any, error) {
		re, err := compile(a, 1)
		if err != nil {
			return nil, err
		}
		return &pattern{re}, nil
	}))
	_ = d.Set("sub", Func(func(a *Args) (any, error) {
		re, err := compile(a, 4)
		if err != nil {
			return nil, err
		}
		repl, _ := a.Arg(1, "repl")
		s, _ := a.Arg(2, "string")
		count, err := argInt(a, 3, "count", 0)
		if err != nil {
			return nil, err
		}
		return reSub(re, Str(repl), Str(s), int(count)), nil
	}))
	for _, name := range []string{"search", "match", "fullmatch"} {
		name := name
		_ = d.Set(name, Func(func(a *Args) (any, error) {
			re, err := compile(a, 2)
			if err != nil {
				return nil, err
			}
			s, _ := a.Arg(1, "string")
			return reFind(re, Str(s), name), nil
		}))
	}
	_ = d.Set("findall", Func(func(a *Args) (any, error) {
		re, err := compile(a, 2)
		if err != nil {
			return nil, err
		}
		s, _ := a.Arg(1, "string")
		out := []any{}
		for _, m := range re.FindAllStringSubmatch(Str(s), -1) {
			switch len(m) {
			case 1:
				out = append(out, m[0])
			case 2:
				out = append(out, m[1])
			default:
				t := make(Tuple, len(m)-1)
				for i, g := range m[1:] {
					t[i] = g
				}
				out = append(out, t)
			}
		}
		return &List{Items: out}, nil
	}))
	_ = d.Set("split", Func(func(a *Args) (any, error) {
		re, err := compile(a, 3)
		if err != nil {
			return nil, err
		}
		s, _ := a.Arg(1, "string")
		out := []any{}
		for _, part := range re.Split(Str(s), -1) {
			out = append(out, part)
		}
		return &List{Items: out}, nil
	}))
	_ = d.Set("escape", Func(func(a *Args) (any, error) {
		s, _ := a.Arg(0, "pattern")
		return regexp.QuoteMeta(Str(s)), nil
	}))
	return d
}

// reSub replaces as Python's re.sub: \1 and \g<name> in repl are groups.
func reSub(re *regexp.Regexp, repl, s string, count int) string {
	n := 0
	return re.ReplaceAllStringFunc(s, func(m string) string {
		if count > 0 && n >= count {
			return m
		}
		n++
		sub := re.FindStringSubmatch(m)
		var b strings.Builder
		for i := 0; i < len(repl); i++ {
			c := repl[i]
			if c == '\\' && i+1 < len(repl) {
				nx := repl[i+1]
				if nx >= '0' && nx <= '9' {
					if g := int(nx - '0'); g < len(sub) {
						b.WriteString(sub[g])
					}
					i++
					continue
				}
				switch nx {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case '\\':
					b.WriteByte('\\')
				default:
					b.WriteByte(c)
					b.WriteByte(nx)
				}
				i++
				continue
			}
			b.WriteByte(c)
		}
		return b.String()
	})
}

func reFind(re *regexp.Regexp, s, mode string) any {
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil || mode == "match" && loc[0] != 0 || mode == "fullmatch" && (loc[0] != 0 || loc[1] != len(s)) {
		return nil
	}
	return &match{s: s, loc: loc}
}

// pattern is a compiled regular expression (re.compile).
type pattern struct{ re *regexp.Regexp }

func (p *pattern) Attr(name string) (any, bool) {
	switch name {
	case "pattern":
		return p.re.String(), true
	case "search", "match", "fullmatch":
		return Func(func(a *Args) (any, error) {
			s, _ := a.Arg(0, "string")
			return reFind(p.re, Str(s), name), nil
		}), true
	case "sub":
		return Func(func(a *Args) (any, error) {
			repl, _ := a.Arg(0, "repl")
			s, _ := a.Arg(1, "string")
			return reSub(p.re, Str(repl), Str(s), 0), nil
		}), true
	}
	return nil, false
}

// match is a regular expression match.
type match struct {
	s   string
	loc []int
}

func (m *match) group(i int) any {
	if 2*i+1 >= len(m.loc) || m.loc[2*i] < 0 {
		return nil
	}
	return m.s[m.loc[2*i]:m.loc[2*i+1]]
}

func (m *match) Attr(name string) (any, bool) {
	switch name {
	case "group":
		return Func(func(a *Args) (any, error) {
			n, err := argInt(a, 0, "", 0)
			return m.group(int(n)), err
		}), true
	case "groups":
		return Func(func(*Args) (any, error) {
			t := Tuple{}
			for i := 1; i < len(m.loc)/2; i++ {
				t = append(t, m.group(i))
			}
			return t, nil
		}), true
	case "start":
		return Func(func(*Args) (any, error) { return int64(m.loc[0]), nil }), true
	case "end":
		return Func(func(*Args) (any, error) { return int64(m.loc[1]), nil }), true
	}
	return nil, false
}
