package jinja

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// method returns obj.name bound to obj, for Python's str, list and dict
// methods that templates call.
func method(obj any, name string) (any, bool) {
	switch x := obj.(type) {
	case string:
		return strMethod(x, name)
	case Markup:
		return strMethod(string(x), name)
	case *List:
		return listMethod(x, name)
	case *Dict:
		return dictMethod(x, name)
	case Tuple:
		switch name {
		case "index", "count":
			return listMethod(&List{Items: x}, name)
		}
	case *Namespace:
		return nil, false
	case Mapping:
		switch name {
		case "get":
			return Func(func(a *Args) (any, error) {
				k, _ := a.Arg(0, "")
				if v, ok := x.Attr(Str(k)); ok {
					return FromGo(v), nil
				}
				def, _ := a.Arg(1, "")
				return def, nil
			}), true
		case "keys":
			return Func(func(*Args) (any, error) { return FromGo(x.Keys()), nil }), true
		case "items":
			return Func(func(*Args) (any, error) {
				out := []any{}
				for _, k := range x.Keys() {
					v, _ := x.Attr(k)
					out = append(out, Tuple{k, FromGo(v)})
				}
				return &List{Items: out}, nil
			}), true
		}
	case *recursiveLoop:
		return x.Attr(name)
	}
	return nil, false
}

func argStr(a *Args, i int, name, fn string) (string, bool, error) {
	v, ok := a.Arg(i, name)
	if !ok || v == nil {
		return "", false, nil
	}
	s, isStr := asString(v)
	if !isStr {
		return "", false, fmt.Errorf("%s() argument must be str, not %s", fn, TypeName(v))
	}
	return s, true, nil
}

func argInt(a *Args, i int, name string, def int64) (int64, error) {
	v, ok := a.Arg(i, name)
	if !ok || v == nil {
		return def, nil
	}
	n, ok := intOf(v)
	if !ok {
		return 0, fmt.Errorf("'%s' object cannot be interpreted as an integer", TypeName(v))
	}
	return n, nil
}

func strMethod(s, name string) (any, bool) {
	var f func(a *Args) (any, error)
	switch name {
	case "lower":
		f = func(*Args) (any, error) { return strings.ToLower(s), nil }
	case "upper":
		f = func(*Args) (any, error) { return strings.ToUpper(s), nil }
	case "casefold":
		f = func(*Args) (any, error) { return strings.ToLower(s), nil }
	case "strip", "lstrip", "rstrip":
		f = func(a *Args) (any, error) {
			chars, has, err := argStr(a, 0, "chars", name)
			if err != nil {
				return nil, err
			}
			trim := func(r rune) bool { return unicode.IsSpace(r) }
			if has {
				trim = func(r rune) bool { return strings.ContainsRune(chars, r) }
			}
			switch name {
			case "lstrip":
				return strings.TrimLeftFunc(s, trim), nil
			case "rstrip":
				return strings.TrimRightFunc(s, trim), nil
			}
			return strings.TrimFunc(s, trim), nil
		}
	case "split", "rsplit":
		f = func(a *Args) (any, error) {
			sep, has, err := argStr(a, 0, "sep", name)
			if err != nil {
				return nil, err
			}
			maxsplit, err := argInt(a, 1, "maxsplit", -1)
			if err != nil {
				return nil, err
			}
			var parts []string
			if !has {
				parts = strings.Fields(s)
				if maxsplit >= 0 && int64(len(parts)) > maxsplit+1 {
					// Re-split keeping the tail intact.
					parts = splitWhitespaceN(s, int(maxsplit), name == "rsplit")
				}
			} else {
				if sep == "" {
					return nil, fmt.Errorf("empty separator")
				}
				if maxsplit < 0 {
					parts = strings.Split(s, sep)
				} else if name == "split" {
					parts = strings.SplitN(s, sep, int(maxsplit)+1)
				} else {
					parts = rsplitN(s, sep, int(maxsplit))
				}
			}
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &List{Items: out}, nil
		}
	case "splitlines":
		f = func(*Args) (any, error) {
			lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
			if len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			out := make([]any, len(lines))
			for i, l := range lines {
				out[i] = l
			}
			return &List{Items: out}, nil
		}
	case "replace":
		f = func(a *Args) (any, error) {
			old, _, err := argStr(a, 0, "old", name)
			if err != nil {
				return nil, err
			}
			nw, _, err := argStr(a, 1, "new", name)
			if err != nil {
				return nil, err
			}
			if len(a.Pos) < 2 {
				return nil, fmt.Errorf("replace expected at least 2 arguments, got %d", len(a.Pos))
			}
			n, err := argInt(a, 2, "count", -1)
			if err != nil {
				return nil, err
			}
			return strings.Replace(s, old, nw, int(n)), nil
		}
	case "startswith", "endswith":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			var cands []any
			if t, ok := v.(Tuple); ok {
				cands = t
			} else {
				cands = []any{v}
			}
			for _, c := range cands {
				p, ok := asString(c)
				if !ok {
					return nil, fmt.Errorf("%s first arg must be str or a tuple of str, not %s", name, TypeName(c))
				}
				if name == "startswith" && strings.HasPrefix(s, p) || name == "endswith" && strings.HasSuffix(s, p) {
					return true, nil
				}
			}
			return false, nil
		}
	case "join":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			items, err := Iterate(v)
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := asString(it)
				if !ok {
					return nil, fmt.Errorf("sequence item %d: expected str instance, %s found", i, TypeName(it))
				}
				parts[i] = p
			}
			return strings.Join(parts, s), nil
		}
	case "format":
		f = func(a *Args) (any, error) { return strFormat(s, a) }
	case "title":
		f = func(*Args) (any, error) { return titleCase(s), nil }
	case "capitalize":
		f = func(*Args) (any, error) { return capitalize(s), nil }
	case "find", "rfind", "index", "rindex", "count":
		f = func(a *Args) (any, error) {
			sub, _, err := argStr(a, 0, "sub", name)
			if err != nil {
				return nil, err
			}
			rs := []rune(s)
			var i int
			switch name {
			case "count":
				return int64(strings.Count(s, sub)), nil
			case "find", "index":
				i = strings.Index(s, sub)
			default:
				i = strings.LastIndex(s, sub)
			}
			if i < 0 {
				if name == "index" || name == "rindex" {
					return nil, fmt.Errorf("substring not found")
				}
				return int64(-1), nil
			}
			_ = rs
			return int64(len([]rune(s[:i]))), nil
		}
	case "isdigit", "isnumeric", "isdecimal":
		f = func(*Args) (any, error) { return allRunes(s, unicode.IsDigit), nil }
	case "isalpha":
		f = func(*Args) (any, error) { return allRunes(s, unicode.IsLetter), nil }
	case "isalnum":
		f = func(*Args) (any, error) {
			return allRunes(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }), nil
		}
	case "isspace":
		f = func(*Args) (any, error) { return allRunes(s, unicode.IsSpace), nil }
	case "islower":
		f = func(*Args) (any, error) {
			return strings.ToLower(s) == s && strings.ToUpper(s) != s, nil
		}
	case "isupper":
		f = func(*Args) (any, error) {
			return strings.ToUpper(s) == s && strings.ToLower(s) != s, nil
		}
	case "zfill":
		f = func(a *Args) (any, error) {
			w, err := argInt(a, 0, "width", 0)
			if err != nil {
				return nil, err
			}
			n := int(w) - len([]rune(s))
			if n <= 0 {
				return s, nil
			}
			if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
				return s[:1] + strings.Repeat("0", n) + s[1:], nil
			}
			return strings.Repeat("0", n) + s, nil
		}
	case "ljust", "rjust", "center":
		f = func(a *Args) (any, error) {
			w, err := argInt(a, 0, "width", 0)
			if err != nil {
				return nil, err
			}
			fill, has, err := argStr(a, 1, "fillchar", name)
			if err != nil {
				return nil, err
			}
			if !has {
				fill = " "
			}
			return pad(s, int(w), fill, map[string]byte{"ljust": '<', "rjust": '>', "center": '^'}[name]), nil
		}
	case "partition", "rpartition":
		f = func(a *Args) (any, error) {
			sep, _, err := argStr(a, 0, "sep", name)
			if err != nil {
				return nil, err
			}
			i := strings.Index(s, sep)
			if name == "rpartition" {
				i = strings.LastIndex(s, sep)
			}
			if i < 0 {
				if name == "rpartition" {
					return Tuple{"", "", s}, nil
				}
				return Tuple{s, "", ""}, nil
			}
			return Tuple{s[:i], sep, s[i+len(sep):]}, nil
		}
	case "removeprefix":
		f = func(a *Args) (any, error) {
			p, _, err := argStr(a, 0, "prefix", name)
			return strings.TrimPrefix(s, p), err
		}
	case "removesuffix":
		f = func(a *Args) (any, error) {
			p, _, err := argStr(a, 0, "suffix", name)
			return strings.TrimSuffix(s, p), err
		}
	case "swapcase":
		f = func(*Args) (any, error) {
			return strings.Map(func(r rune) rune {
				if unicode.IsUpper(r) {
					return unicode.ToLower(r)
				}
				return unicode.ToUpper(r)
			}, s), nil
		}
	case "encode":
		f = func(*Args) (any, error) { return s, nil }
	default:
		return nil, false
	}
	return Func(f), true
}

func splitWhitespaceN(s string, n int, fromRight bool) []string {
	fields := strings.Fields(s)
	if fromRight {
		head := fields[:len(fields)-n]
		// the head keeps its original spacing
		idx := 0
		for i := 0; i < len(head); i++ {
			j := strings.Index(s[idx:], head[i])
			idx += j + len(head[i])
		}
		first := strings.TrimSpace(s[:idx])
		return append([]string{first}, fields[len(fields)-n:]...)
	}
	out := []string{}
	rest := strings.TrimLeftFunc(s, unicode.IsSpace)
	for i := 0; i < n && rest != ""; i++ {
		j := strings.IndexFunc(rest, unicode.IsSpace)
		if j < 0 {
			break
		}
		out = append(out, rest[:j])
		rest = strings.TrimLeftFunc(rest[j:], unicode.IsSpace)
	}
	if rest != "" {
		out = append(out, rest)
	}
	return out
}

func rsplitN(s, sep string, n int) []string {
	var out []string
	for n > 0 {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		out = append([]string{s[i+len(sep):]}, out...)
		s = s[:i]
		n--
	}
	return append([]string{s}, out...)
}

func allRunes(s string, f func(rune) bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

func pad(s string, w int, fill string, align byte) string {
	n := w - len([]rune(s))
	if n <= 0 {
		return s
	}
	switch align {
	case '<':
		return s + strings.Repeat(fill, n)
	case '>':
		return strings.Repeat(fill, n) + s
	}
	left := n / 2
	if n%2 == 1 && w%2 == 1 {
		left++
	}
	return strings.Repeat(fill, left) + s + strings.Repeat(fill, n-left)
}

// titleCase is Python's str.title: a letter after a non-letter is upper.
func titleCase(s string) string {
	var b strings.Builder
	prev := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			if prev {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToUpper(r))
			}
			prev = true
		} else {
			b.WriteRune(r)
			prev = false
		}
	}
	return b.String()
}

func capitalize(s string) string {
	rs := []rune(strings.ToLower(s))
	if len(rs) > 0 {
		rs[0] = unicode.ToUpper(rs[0])
	}
	return string(rs)
}

func listMethod(l *List, name string) (any, bool) {
	var f func(a *Args) (any, error)
	switch name {
	case "append":
		f = func(a *Args) (any, error) {
			if len(a.Pos) != 1 {
				return nil, fmt.Errorf("list.append() takes exactly one argument (%d given)", len(a.Pos))
			}
			l.Items = append(l.Items, a.Pos[0])
			return nil, nil
		}
	case "extend":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			items, err := Iterate(v)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, items...)
			return nil, nil
		}
	case "insert":
		f = func(a *Args) (any, error) {
			i, err := argInt(a, 0, "", 0)
			if err != nil {
				return nil, err
			}
			v, _ := a.Arg(1, "")
			n := int64(len(l.Items))
			if i < 0 {
				i += n
			}
			i = min(max(i, 0), n)
			l.Items = append(l.Items, nil)
			copy(l.Items[i+1:], l.Items[i:])
			l.Items[i] = v
			return nil, nil
		}
	case "pop":
		f = func(a *Args) (any, error) {
			n := int64(len(l.Items))
			if n == 0 {
				return nil, fmt.Errorf("pop from empty list")
			}
			i, err := argInt(a, 0, "", -1)
			if err != nil {
				return nil, err
			}
			if i < 0 {
				i += n
			}
			if i < 0 || i >= n {
				return nil, fmt.Errorf("pop index out of range")
			}
			v := l.Items[i]
			l.Items = append(l.Items[:i], l.Items[i+1:]...)
			return v, nil
		}
	case "remove":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			for i, it := range l.Items {
				if Equal(it, v) {
					l.Items = append(l.Items[:i], l.Items[i+1:]...)
					return nil, nil
				}
			}
			return nil, fmt.Errorf("list.remove(x): x not in list")
		}
	case "index":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			for i, it := range l.Items {
				if Equal(it, v) {
					return int64(i), nil
				}
			}
			return nil, fmt.Errorf("%s is not in list", Repr(v))
		}
	case "count":
		f = func(a *Args) (any, error) {
			v, _ := a.Arg(0, "")
			n := 0
			for _, it := range l.Items {
				if Equal(it, v) {
					n++
				}
			}
			return int64(n), nil
		}
	case "reverse":
		f = func(*Args) (any, error) {
			for i, j := 0, len(l.Items)-1; i < j; i, j = i+1, j-1 {
				l.Items[i], l.Items[j] = l.Items[j], l.Items[i]
			}
			return nil, nil
		}
	case "sort":
		f = func(a *Args) (any, error) {
			rev, _ := a.Kwarg("reverse")
			var err error
			sort.SliceStable(l.Items, func(i, j int) bool {
				c, e := Compare(l.Items[i], l.Items[j])
				if e != nil {
					err = e
				}
				if Truth(rev) {
					return c > 0
				}
				return c < 0
			})
			return nil, err
		}
	case "copy":
		f = func(*Args) (any, error) { return &List{Items: append([]any{}, l.Items...)}, nil }
	case "clear":
		f = func(*Args) (any, error) { l.Items = l.Items[:0]; return nil, nil }
	default:
		return nil, false
	}
	return Func(f), true
}

func dictMethod(d *Dict, name string) (any, bool) {
	var f func(a *Args) (any, error)
	switch name {
	case "get":
		f = func(a *Args) (any, error) {
			k, _ := a.Arg(0, "")
			if v, ok := d.Get(k); ok {
				return v, nil
			}
			def, _ := a.Arg(1, "")
			return def, nil
		}
	case "items":
		f = func(*Args) (any, error) {
			out := make([]any, d.Len())
			for i, k := range d.keys {
				out[i] = Tuple{k, d.vals[i]}
			}
			return &List{Items: out}, nil
		}
	case "keys":
		f = func(*Args) (any, error) { return &List{Items: d.Keys()}, nil }
	case "values":
		f = func(*Args) (any, error) { return &List{Items: d.Values()}, nil }
	case "update":
		f = func(a *Args) (any, error) {
			for _, p := range a.Pos {
				switch src := p.(type) {
				case *Dict:
					for i, k := range src.keys {
						if err := d.Set(k, src.vals[i]); err != nil {
							return nil, err
						}
					}
				default:
					items, err := Iterate(p)
					if err != nil {
						return nil, err
					}
					for _, it := range items {
						kv, ok := seqOf(it)
						if !ok || len(kv) != 2 {
							return nil, fmt.Errorf("dictionary update sequence element has wrong length")
						}
						if err := d.Set(kv[0], kv[1]); err != nil {
							return nil, err
						}
					}
				}
			}
			for _, kw := range a.Kw {
				_ = d.Set(kw.Key, kw.Value)
			}
			return nil, nil
		}
	case "pop":
		f = func(a *Args) (any, error) {
			k, _ := a.Arg(0, "")
			if v, ok := d.Get(k); ok {
				d.Delete(k)
				return v, nil
			}
			if def, ok := a.Arg(1, ""); ok {
				return def, nil
			}
			return nil, fmt.Errorf("KeyError: %s", Repr(k))
		}
	case "setdefault":
		f = func(a *Args) (any, error) {
			k, _ := a.Arg(0, "")
			if v, ok := d.Get(k); ok {
				return v, nil
			}
			def, _ := a.Arg(1, "")
			return def, d.Set(k, def)
		}
	case "copy":
		f = func(*Args) (any, error) { return d.Copy(), nil }
	case "clear":
		f = func(*Args) (any, error) {
			*d = *NewDict()
			return nil, nil
		}
	default:
		return nil, false
	}
	return Func(f), true
}
