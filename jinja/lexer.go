package jinja

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tData       tokKind = iota
	tVarBegin           // {{
	tVarEnd             // }}
	tBlockBegin         // {%
	tBlockEnd           // %}
	tName
	tString
	tInt
	tFloat
	tOp
	tEOF
)

type token struct {
	kind tokKind
	val  string // name, operator, data text, decoded string literal
	num  any    // int64 or float64 for numbers
	line int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of template"
	case tVarEnd:
		return "'}}'"
	case tBlockEnd:
		return "'%}'"
	case tString:
		return strRepr(t.val)
	}
	return "'" + t.val + "'"
}

// SyntaxError is a template that does not parse.
type SyntaxError struct {
	Name string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
}

type lexer struct {
	name string
	src  string
	pos  int
	line int
	toks []token
}

// lex splits src into tokens. Whitespace control ({%- -%}, {{- -}},
// {#- -#}) is applied here; {% raw %} blocks become data.
func lex(name, src string) ([]token, error) {
	if !utf8.ValidString(src) {
		return nil, &SyntaxError{name, 1, "not valid UTF-8 text"}
	}
	// Jinja2 writes every newline of the template as \n.
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	}
	lx := &lexer{name: name, src: src, line: 1}
	if err := lx.run(); err != nil {
		return nil, err
	}
	return lx.toks, nil
}

func (lx *lexer) errf(line int, format string, args ...any) error {
	return &SyntaxError{lx.name, line, fmt.Sprintf(format, args...)}
}

func (lx *lexer) emitData(s string, line int) {
	if s != "" {
		lx.toks = append(lx.toks, token{kind: tData, val: s, line: line})
	}
}

// stripRight removes trailing whitespace of the last data token, for a
// "{%-" that follows it.
func (lx *lexer) stripLastData() {
	if n := len(lx.toks); n > 0 && lx.toks[n-1].kind == tData {
		lx.toks[n-1].val = strings.TrimRightFunc(lx.toks[n-1].val, unicode.IsSpace)
		if lx.toks[n-1].val == "" {
			lx.toks = lx.toks[:n-1]
		}
	}
}

func (lx *lexer) run() error {
	lstripNext := false
	for lx.pos < len(lx.src) {
		// Find the next tag opening.
		i := lx.pos
		start := -1
		for {
			j := strings.IndexByte(lx.src[i:], '{')
			if j < 0 || i+j+1 >= len(lx.src) {
				break
			}
			c := lx.src[i+j+1]
			if c == '{' || c == '%' || c == '#' {
				start = i + j
				break
			}
			i += j + 1
		}
		if start < 0 {
			start = len(lx.src)
		}
		data := lx.src[lx.pos:start]
		if lstripNext {
			data = strings.TrimLeftFunc(data, unicode.IsSpace)
			lstripNext = false
		}
		lx.emitData(data, lx.line)
		lx.line += strings.Count(lx.src[lx.pos:start], "\n")
		lx.pos = start
		if start >= len(lx.src) {
			break
		}
		kind := lx.src[start+1]
		lx.pos += 2
		if lx.pos < len(lx.src) && lx.src[lx.pos] == '-' {
			lx.pos++
			// Strip whitespace before the tag, including what a lstrip
			// already left.
			if n := len(lx.toks); n > 0 && lx.toks[n-1].kind == tData {
				lx.stripLastData()
			}
		} else if lx.pos < len(lx.src) && lx.src[lx.pos] == '+' {
			lx.pos++
		}
		var err error
		switch kind {
		case '#':
			lstripNext, err = lx.comment()
		case '{':
			lstripNext, err = lx.tag(tVarBegin, tVarEnd, "}}")
		case '%':
			if raw, ok := lx.rawBlock(); ok {
				lstripNext, err = raw()
			} else {
				lstripNext, err = lx.tag(tBlockBegin, tBlockEnd, "%}")
			}
		}
		if err != nil {
			return err
		}
	}
	lx.toks = append(lx.toks, token{kind: tEOF, line: lx.line})
	return nil
}

func (lx *lexer) comment() (bool, error) {
	line := lx.line
	end := strings.Index(lx.src[lx.pos:], "#}")
	if end < 0 {
		return false, lx.errf(line, "missing end of comment tag")
	}
	body := lx.src[lx.pos : lx.pos+end]
	lx.line += strings.Count(body, "\n")
	lx.pos += end + 2
	return strings.HasSuffix(body, "-"), nil
}

// rawBlock handles {% raw %}...{% endraw %} when the tag at pos is one.
func (lx *lexer) rawBlock() (func() (bool, error), bool) {
	rest := lx.src[lx.pos:]
	trimmed := strings.TrimLeft(rest, " \t\r\n")
	if !strings.HasPrefix(trimmed, "raw") {
		return nil, false
	}
	after := strings.TrimLeft(trimmed[3:], " \t\r\n")
	if !strings.HasPrefix(after, "%}") && !strings.HasPrefix(after, "-%}") {
		return nil, false
	}
	return func() (bool, error) {
		line := lx.line
		head := len(rest) - len(after)
		stripAfterOpen := strings.HasPrefix(after, "-")
		if stripAfterOpen {
			head++
		}
		head += 2
		body := rest[head:]
		// Find {% endraw %} with optional whitespace control.
		k := 0
		for {
			j := strings.Index(body[k:], "{%")
			if j < 0 {
				return false, lx.errf(line, "missing end of raw directive")
			}
			j += k
			t := body[j+2:]
			stripBefore := false
			if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
				stripBefore = t[0] == '-'
				t = t[1:]
			}
			t2 := strings.TrimLeft(t, " \t\r\n")
			if strings.HasPrefix(t2, "endraw") {
				t3 := strings.TrimLeft(t2[6:], " \t\r\n")
				stripAfter := strings.HasPrefix(t3, "-")
				if stripAfter {
					t3 = t3[1:]
				}
				if strings.HasPrefix(t3, "%}") {
					text := body[:j]
					if stripAfterOpen {
						text = strings.TrimLeftFunc(text, unicode.IsSpace)
					}
					if stripBefore {
						text = strings.TrimRightFunc(text, unicode.IsSpace)
					}
					lx.emitData(text, line)
					consumed := head + (len(body) - len(t3)) + 2
					lx.line += strings.Count(rest[:consumed], "\n")
					lx.pos += consumed
					return stripAfter, nil
				}
			}
			k = j + 2
		}
	}, true
}

// tag lexes the expression tokens of a {{ }} or {% %} tag.
func (lx *lexer) tag(begin, end tokKind, closer string) (bool, error) {
	startLine := lx.line
	lx.toks = append(lx.toks, token{kind: begin, line: lx.line})
	var stack []byte
	for {
		// skip whitespace
		for lx.pos < len(lx.src) && strings.IndexByte(" \t\r\n", lx.src[lx.pos]) >= 0 {
			if lx.src[lx.pos] == '\n' {
				lx.line++
			}
			lx.pos++
		}
		if lx.pos >= len(lx.src) {
			what := "variable"
			if begin == tBlockBegin {
				what = "block"
			}
			return false, lx.errf(startLine, "unexpected end of template: the %s tag opened here is never closed with '%s'", what, closer)
		}
		rest := lx.src[lx.pos:]
		if len(stack) == 0 {
			if strings.HasPrefix(rest, "-"+closer) {
				lx.toks = append(lx.toks, token{kind: end, line: lx.line})
				lx.pos += 1 + len(closer)
				return true, nil
			}
			if strings.HasPrefix(rest, "+"+closer) {
				lx.toks = append(lx.toks, token{kind: end, line: lx.line})
				lx.pos += 1 + len(closer)
				return false, nil
			}
			if strings.HasPrefix(rest, closer) {
				lx.toks = append(lx.toks, token{kind: end, line: lx.line})
				lx.pos += len(closer)
				return false, nil
			}
		}
		c := rest[0]
		switch {
		case c == '_' || c < utf8.RuneSelf && unicode.IsLetter(rune(c)):
			j := 1
			for j < len(rest) && (rest[j] == '_' || rest[j] < utf8.RuneSelf && (unicode.IsLetter(rune(rest[j])) || unicode.IsDigit(rune(rest[j])))) {
				j++
			}
			lx.toks = append(lx.toks, token{kind: tName, val: rest[:j], line: lx.line})
			lx.pos += j
		case c >= '0' && c <= '9' || c == '.' && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9' && lx.prevIsNotValue():
			if err := lx.number(); err != nil {
				return false, err
			}
		case c == '\'' || c == '"':
			if err := lx.str(c); err != nil {
				return false, err
			}
		default:
			op := ""
			for _, o := range []string{"//", "**", "==", "!=", "<=", ">="} {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" {
				if strings.IndexByte("+-*/%~<>=()[]{}.,:|;", c) < 0 {
					return false, lx.errf(lx.line, "unexpected character %q in a tag", rune(c))
				}
				op = string(c)
			}
			switch op {
			case "(", "[", "{":
				stack = append(stack, op[0])
			case ")", "]", "}":
				want := map[byte]byte{')': '(', ']': '[', '}': '{'}[op[0]]
				if len(stack) == 0 || stack[len(stack)-1] != want {
					return false, lx.errf(lx.line, "unexpected '%s'", op)
				}
				stack = stack[:len(stack)-1]
			}
			lx.toks = append(lx.toks, token{kind: tOp, val: op, line: lx.line})
			lx.pos += len(op)
		}
	}
}

func (lx *lexer) prevIsNotValue() bool {
	if n := len(lx.toks); n > 0 {
		t := lx.toks[n-1]
		if t.kind == tName || t.kind == tString || t.kind == tInt || t.kind == tFloat {
			return false
		}
		if t.kind == tOp && (t.val == ")" || t.val == "]" || t.val == "}") {
			return false
		}
	}
	return true
}

func (lx *lexer) number() error {
	rest := lx.src[lx.pos:]
	j := 0
	digits := func() {
		for j < len(rest) && (rest[j] >= '0' && rest[j] <= '9' || rest[j] == '_' && j+1 < len(rest) && rest[j+1] >= '0' && rest[j+1] <= '9') {
			j++
		}
	}
	digits()
	isFloat := false
	if j < len(rest)-1 && rest[j] == '.' && rest[j+1] >= '0' && rest[j+1] <= '9' {
		isFloat = true
		j++
		digits()
	}
	if j < len(rest) && (rest[j] == 'e' || rest[j] == 'E') {
		k := j + 1
		if k < len(rest) && (rest[k] == '+' || rest[k] == '-') {
			k++
		}
		if k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			isFloat = true
			j = k
			digits()
		}
	}
	text := strings.ReplaceAll(rest[:j], "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return lx.errf(lx.line, "bad number %q", rest[:j])
		}
		lx.toks = append(lx.toks, token{kind: tFloat, val: rest[:j], num: f, line: lx.line})
	} else {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			f, _ := strconv.ParseFloat(text, 64)
			lx.toks = append(lx.toks, token{kind: tFloat, val: rest[:j], num: f, line: lx.line})
		} else {
			lx.toks = append(lx.toks, token{kind: tInt, val: rest[:j], num: n, line: lx.line})
		}
	}
	lx.pos += j
	return nil
}

// str lexes a string literal with Python's escapes.
func (lx *lexer) str(q byte) error {
	line := lx.line
	var b strings.Builder
	i := lx.pos + 1
	for {
		if i >= len(lx.src) {
			return lx.errf(line, "unterminated string literal")
		}
		c := lx.src[i]
		if c == q {
			i++
			break
		}
		if c == '\n' {
			lx.line++
		}
		if c != '\\' || i+1 >= len(lx.src) {
			b.WriteByte(c)
			i++
			continue
		}
		e := lx.src[i+1]
		i += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case '\'':
			b.WriteByte('\'')
		case '"':
			b.WriteByte('"')
		case '0':
			b.WriteByte(0)
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'v':
			b.WriteByte(11)
		case '\n':
			lx.line++
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n <= len(lx.src) {
				if r, err := strconv.ParseUint(lx.src[i:i+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(e)
		default:
			// Python keeps unknown escapes as they are.
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	lx.toks = append(lx.toks, token{kind: tString, val: b.String(), line: line})
	lx.pos = i
	return nil
}
