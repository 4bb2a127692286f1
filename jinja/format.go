package jinja

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// percentFormat is Python's "format" % args.
func percentFormat(format string, args any) (string, error) {
	var list []any
	var mapping *Dict
	switch a := args.(type) {
	case Tuple:
		list = a
	case *Dict:
		mapping = a
		list = []any{a}
	case *List:
		// A list has __getitem__: Python treats it as a mapping and does
		// not complain about arguments left over.
		list = []any{a}
		mapping = NewDict()
	default:
		list = []any{a}
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("incomplete format")
		}
		if format[i] == '%' {
			b.WriteByte('%')
			continue
		}
		var arg any
		haveArg := false
		if format[i] == '(' {
			j := strings.IndexByte(format[i:], ')')
			if j < 0 || mapping == nil {
				return "", fmt.Errorf("format requires a mapping")
			}
			key := format[i+1 : i+j]
			v, ok := mapping.Get(key)
			if !ok {
				return "", fmt.Errorf("KeyError: %s", strRepr(key))
			}
			arg, haveArg = v, true
			i += j + 1
		}
		// flags, width, precision
		spec := "%"
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			spec += string(format[i])
			i++
		}
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '.' || format[i] == '*') {
			spec += string(format[i])
			i++
		}
		if i >= len(format) {
			return "", fmt.Errorf("incomplete format")
		}
		verb := format[i]
		if !haveArg {
			if next >= len(list) {
				return "", fmt.Errorf("not enough arguments for format string")
			}
			arg = list[next]
			next++
		}
		s, err := formatOne(spec, verb, arg)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	if mapping == nil && next < len(list) {
		return "", fmt.Errorf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

func formatOne(spec string, verb byte, arg any) (string, error) {
	switch verb {
	case 's':
		return fmt.Sprintf(spec+"s", Str(arg)), nil
	case 'r', 'a':
		return fmt.Sprintf(spec+"s", Repr(arg)), nil
	case 'd', 'i', 'u':
		f, ok := number(arg)
		if !ok {
			return "", fmt.Errorf("%%%c format: a real number is required, not %s", verb, TypeName(arg))
		}
		n, isInt := intOf(arg)
		if !isInt {
			n = int64(math.Trunc(f))
		}
		return fmt.Sprintf(spec+"d", n), nil
	case 'f', 'F', 'e', 'E', 'g', 'G':
		f, ok := number(arg)
		if !ok {
			return "", fmt.Errorf("must be real number, not %s", TypeName(arg))
		}
		if !strings.Contains(spec, ".") && (verb == 'f' || verb == 'F' || verb == 'e' || verb == 'E') {
			spec += ".6"
		}
		return fmt.Sprintf(spec+string(verb), f), nil
	case 'x', 'X', 'o':
		n, ok := intOf(arg)
		if !ok {
			return "", fmt.Errorf("%%%c format: an integer is required, not %s", verb, TypeName(arg))
		}
		return fmt.Sprintf(spec+string(verb), n), nil
	case 'c':
		if n, ok := intOf(arg); ok {
			return string(rune(n)), nil
		}
		return Str(arg), nil
	}
	return "", fmt.Errorf("unsupported format character '%c'", verb)
}

// strFormat is Python's str.format with positional and named fields and
// the common format specs.
func strFormat(format string, a *Args) (string, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == '}' {
			if i+1 < len(format) && format[i+1] == '}' {
				i++
			}
			b.WriteByte('}')
			continue
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(format) && format[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		j := strings.IndexByte(format[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("single '{' encountered in format string")
		}
		field := format[i+1 : i+j]
		i += j
		name, spec, _ := strings.Cut(field, ":")
		conv := ""
		if k := strings.IndexByte(name, '!'); k >= 0 {
			name, conv = name[:k], name[k+1:]
		}
		// attribute and index access after the first part
		first, rest := name, ""
		if k := strings.IndexAny(name, ".["); k >= 0 {
			first, rest = name[:k], name[k:]
		}
		var v any
		if first == "" {
			if auto >= len(a.Pos) {
				return "", fmt.Errorf("Replacement index %d out of range for positional args tuple", auto)
			}
			v = a.Pos[auto]
			auto++
		} else if n, err := strconv.Atoi(first); err == nil {
			if n >= len(a.Pos) {
				return "", fmt.Errorf("Replacement index %d out of range for positional args tuple", n)
			}
			v = a.Pos[n]
		} else {
			kv, ok := a.Kwarg(first)
			if !ok {
				return "", fmt.Errorf("KeyError: %s", strRepr(first))
			}
			v = kv
		}
		for rest != "" {
			if rest[0] == '.' {
				k := strings.IndexAny(rest[1:], ".[")
				attr := rest[1:]
				if k >= 0 {
					attr, rest = rest[1:k+1], rest[k+1:]
				} else {
					rest = ""
				}
				var err error
				if v, err = getAttr(v, attr); err != nil {
					return "", err
				}
			} else {
				k := strings.IndexByte(rest, ']')
				if k < 0 {
					return "", fmt.Errorf("missing ']' in format string")
				}
				key := rest[1:k]
				rest = rest[k+1:]
				var kv any = key
				if n, err := strconv.Atoi(key); err == nil {
					kv = int64(n)
				}
				var err error
				if v, err = getItem(v, kv); err != nil {
					return "", err
				}
			}
		}
		switch conv {
		case "r":
			v = Repr(v)
		case "s":
			v = Str(v)
		}
		s, err := formatSpec(v, spec)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// formatSpec applies a format spec: [[fill]align][sign][0][width][,][.precision][type].
func formatSpec(v any, spec string) (string, error) {
	if spec == "" {
		return Str(v), nil
	}
	fill, align := " ", byte(0)
	if len(spec) >= 2 && strings.IndexByte("<>^=", spec[1]) >= 0 {
		fill, align, spec = spec[:1], spec[1], spec[2:]
	} else if len(spec) >= 1 && strings.IndexByte("<>^=", spec[0]) >= 0 {
		align, spec = spec[0], spec[1:]
	}
	sign := ""
	if spec != "" && strings.IndexByte("+- ", spec[0]) >= 0 {
		sign, spec = spec[:1], spec[1:]
	}
	if strings.HasPrefix(spec, "0") {
		if align == 0 {
			fill, align = "0", '='
		}
		spec = spec[1:]
	}
	i := 0
	for i < len(spec) && spec[i] >= '0' && spec[i] <= '9' {
		i++
	}
	width, _ := strconv.Atoi(spec[:i])
	spec = spec[i:]
	comma := false
	if strings.HasPrefix(spec, ",") {
		comma, spec = true, spec[1:]
	}
	prec := -1
	if strings.HasPrefix(spec, ".") {
		j := 1
		for j < len(spec) && spec[j] >= '0' && spec[j] <= '9' {
			j++
		}
		prec, _ = strconv.Atoi(spec[1:j])
		spec = spec[j:]
	}
	typ := byte(0)
	if spec != "" {
		typ = spec[0]
	}
	var s string
	_, isNum := number(v)
	switch {
	case typ == 's' || !isNum && typ == 0:
		s = Str(v)
		if prec >= 0 && len([]rune(s)) > prec {
			s = string([]rune(s)[:prec])
		}
		if align == 0 {
			align = '<'
		}
	case isNum:
		f, _ := number(v)
		n, isInt := intOf(v)
		switch typ {
		case 'd':
			if !isInt {
				return "", fmt.Errorf("Unknown format code 'd' for object of type 'float'")
			}
			s = strconv.FormatInt(n, 10)
		case 'f', 'F':
			if prec < 0 {
				prec = 6
			}
			s = strconv.FormatFloat(f, 'f', prec, 64)
		case 'e', 'E':
			if prec < 0 {
				prec = 6
			}
			s = fmt.Sprintf("%.*"+string(typ), prec, f)
		case '%':
			if prec < 0 {
				prec = 6
			}
			s = strconv.FormatFloat(f*100, 'f', prec, 64) + "%"
		case 'x', 'X', 'o', 'b':
			s = strconv.FormatInt(n, map[byte]int{'x': 16, 'X': 16, 'o': 8, 'b': 2}[typ])
			if typ == 'X' {
				s = strings.ToUpper(s)
			}
		case 'g', 'G', 0:
			if isInt && typ == 0 {
				s = strconv.FormatInt(n, 10)
			} else if prec >= 0 {
				s = strconv.FormatFloat(f, 'g', max(prec, 1), 64)
			} else {
				s = FloatRepr(f)
			}
		default:
			return "", fmt.Errorf("Unknown format code '%c'", typ)
		}
		neg := strings.HasPrefix(s, "-")
		if neg {
			s = s[1:]
		}
		if comma {
			intPart, frac, _ := strings.Cut(s, ".")
			var g []string
			for len(intPart) > 3 {
				g = append([]string{intPart[len(intPart)-3:]}, g...)
				intPart = intPart[:len(intPart)-3]
			}
			s = strings.Join(append([]string{intPart}, g...), ",")
			if frac != "" {
				s += "." + frac
			}
		}
		pre := ""
		switch {
		case neg:
			pre = "-"
		case sign == "+":
			pre = "+"
		case sign == " ":
			pre = " "
		}
		if align == '=' {
			if n := width - len(pre) - len(s); n > 0 {
				s = strings.Repeat(fill, n) + s
			}
			return pre + s, nil
		}
		s = pre + s
		if align == 0 {
			align = '>'
		}
	default:
		return "", fmt.Errorf("Unknown format code '%c' for object of type '%s'", typ, TypeName(v))
	}
	return pad(s, width, fill, align), nil
}
