package jinja

import (
	"fmt"
	"strings"
)

// Template is a parsed template.
type Template struct {
	Name string
	body []stmt
	// Macros defined at the top level of the template, by name.
	Macros map[string]*Macro
	// MacroOrder lists the macros in the order the file defines them.
	MacroOrder []string
	// Blocks are dbt's named blocks: {% docs name %} and {% snapshot name %}.
	Blocks []*Block
}

// Block is a dbt block ({% docs %}, {% snapshot %}); Body renders its text.
type Block struct {
	Kind, Name string
	Line       int
	Body       *Macro
}

// Options change how a template is parsed.
type Options struct {
	// KeepTrailingNewline keeps the newline that ends the template, which
	// Jinja2 drops by default.
	KeepTrailingNewline bool
}

// Parse parses src. name is used in error messages.
func Parse(name, src string, opt Options) (*Template, error) {
	toks, err := lex(name, src)
	if err != nil {
		return nil, err
	}
	if !opt.KeepTrailingNewline && len(toks) > 1 {
		if d := &toks[len(toks)-2]; d.kind == tData {
			if strings.HasSuffix(d.val, "\r\n") {
				d.val = d.val[:len(d.val)-2]
			} else if strings.HasSuffix(d.val, "\n") {
				d.val = d.val[:len(d.val)-1]
			}
		}
	}
	t := &Template{Name: name, Macros: map[string]*Macro{}}
	p := &parser{toks: toks, name: name, tpl: t}
	body, end, err := p.subparse()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, p.errf(p.cur().line, "unexpected '%s'", end)
	}
	t.body = body
	for _, n := range p.reads {
		n.setInFile = p.assigned[n.name]
	}
	return t, nil
}

type parser struct {
	// reads are the names the file reads, assigned the names it assigns.
	reads    []*nameExpr
	assigned map[string]bool
	toks     []token
	i        int
	name     string
	tpl      *Template
	depth    int // nesting of macro definitions
	stack    []string
}

func (p *parser) cur() token { return p.toks[p.i] }
func (p *parser) peek(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &SyntaxError{p.name, line, fmt.Sprintf(format, args...)}
}

func (p *parser) isOp(v string) bool   { t := p.cur(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.cur(); return t.kind == tName && t.val == v }

func (p *parser) skipOp(v string) bool {
	if p.isOp(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) skipName(v string) bool {
	if p.isName(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectOp(v string) error {
	if !p.skipOp(v) {
		return p.errf(p.cur().line, "expected '%s', got %s", v, p.cur())
	}
	return nil
}

func (p *parser) expectName() (string, error) {
	t := p.cur()
	if t.kind != tName {
		return "", p.errf(t.line, "expected a name, got %s", t)
	}
	p.next()
	return t.val, nil
}

func (p *parser) expectBlockEnd() error {
	if p.cur().kind != tBlockEnd {
		return p.errf(p.cur().line, "expected end of statement block '%%}', got %s", p.cur())
	}
	p.next()
	return nil
}

// subparse parses statements until one of endTags opens a block; it returns
// that tag's name with the parser after the name.
func (p *parser) subparse(endTags ...string) ([]stmt, string, error) {
	var body []stmt
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if len(endTags) > 0 {
				return nil, "", p.errf(t.line, "unexpected end of template: expected '%s' for the block opened at line %s", strings.Join(endTags, "' or '"), p.openLine())
			}
			return body, "", nil
		case tData:
			p.next()
			body = append(body, &dataStmt{t.val})
		case tVarBegin:
			p.next()
			x, err := p.parseTuple(true, false)
			if err != nil {
				return nil, "", err
			}
			if p.cur().kind != tVarEnd {
				return nil, "", p.errf(p.cur().line, "expected end of print statement '}}', got %s", p.cur())
			}
			p.next()
			body = append(body, &outputStmt{pos{t.line}, x})
		case tBlockBegin:
			p.next()
			nt := p.cur()
			if nt.kind != tName {
				return nil, "", p.errf(nt.line, "expected a statement name after '{%%', got %s", nt)
			}
			for _, e := range endTags {
				if nt.val == e {
					p.next()
					return body, e, nil
				}
			}
			s, err := p.statement()
			if err != nil {
				return nil, "", err
			}
			if s != nil {
				body = append(body, s)
			}
		default:
			return nil, "", p.errf(t.line, "unexpected %s", t)
		}
	}
}

func (p *parser) openLine() string {
	if n := len(p.stack); n > 0 {
		return p.stack[n-1]
	}
	return "?"
}

func (p *parser) push(line int) { p.stack = append(p.stack, fmt.Sprint(line)) }
func (p *parser) pop()          { p.stack = p.stack[:len(p.stack)-1] }

func (p *parser) statement() (stmt, error) {
	t := p.next()
	line := t.line
	switch t.val {
	case "if":
		return p.parseIf(line)
	case "for":
		return p.parseFor(line)
	case "set":
		return p.parseSet(line)
	case "macro":
		return p.parseMacro(line, "macro", "")
	case "test":
		return p.parseMacro(line, "test", "test_")
	case "materialization":
		return p.parseMaterialization(line)
	case "docs", "snapshot":
		return p.parseNamedBlock(line, t.val)
	case "call":
		return p.parseCallBlock(line)
	case "filter":
		return p.parseFilterBlock(line)
	case "do":
		x, err := p.parseTuple(true, false)
		if err != nil {
			return nil, err
		}
		return &doStmt{pos{line}, x}, p.expectBlockEnd()
	case "with":
		return p.parseWith(line)
	case "break", "continue":
		return &loopCtlStmt{pos{line}, t.val == "break"}, p.expectBlockEnd()
	case "endif", "endfor", "endmacro", "endset", "endcall", "endfilter", "endwith", "endtest", "else", "elif":
		return nil, p.errf(line, "unexpected '%s'", t.val)
	}
	return nil, p.errf(line, "unknown tag '%s'", t.val)
}

func (p *parser) parseIf(line int) (stmt, error) {
	s := &ifStmt{pos: pos{line}}
	p.push(line)
	defer p.pop()
	for {
		cond, err := p.parseTuple(false, false)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, end, err := p.subparse("elif", "else", "endif")
		if err != nil {
			return nil, err
		}
		s.conds = append(s.conds, cond)
		s.bodies = append(s.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.expectBlockEnd(); err != nil {
				return nil, err
			}
			s.els, _, err = p.subparse("endif")
			if err != nil {
				return nil, err
			}
		}
		return s, p.expectBlockEnd()
	}
}

func (p *parser) parseFor(line int) (stmt, error) {
	s := &forStmt{pos: pos{line}}
	p.push(line)
	defer p.pop()
	var err error
	if s.target, err = p.parseAssignTarget(false); err != nil {
		return nil, err
	}
	if !p.skipName("in") {
		return nil, p.errf(p.cur().line, "expected 'in' in the for statement, got %s", p.cur())
	}
	if s.iter, err = p.parseTupleUntil(false, "recursive", "if"); err != nil {
		return nil, err
	}
	if p.skipName("if") {
		if s.filter, err = p.parseExpression(true); err != nil {
			return nil, err
		}
	}
	s.recursive = p.skipName("recursive")
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	body, end, err := p.subparse("else", "endfor")
	if err != nil {
		return nil, err
	}
	s.body = body
	if end == "else" {
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if s.els, _, err = p.subparse("endfor"); err != nil {
			return nil, err
		}
	}
	return s, p.expectBlockEnd()
}

// parseAssignTarget reads a name, a tuple of names, or (for set) ns.attr.
func (p *parser) parseAssignTarget(withNamespace bool) (expr, error) {
	line := p.cur().line
	if withNamespace && p.cur().kind == tName && p.peek(1).kind == tOp && p.peek(1).val == "." {
		ns := p.next().val
		p.next()
		attr, err := p.expectName()
		if err != nil {
			return nil, err
		}
		return &attrExpr{pos{line}, &nameExpr{pos: pos{line}, name: ns}, attr}, nil
	}
	var names []expr
	paren := p.skipOp("(")
	for {
		n, err := p.expectName()
		if err != nil {
			return nil, err
		}
		names = append(names, &nameExpr{pos: pos{line}, name: n})
		p.assign(n)
		if !p.skipOp(",") {
			break
		}
		if p.cur().kind != tName {
			break
		}
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if len(names) == 1 && !paren {
		return names[0], nil
	}
	return &tupleExpr{pos{line}, names}, nil
}

func (p *parser) parseSet(line int) (stmt, error) {
	target, err := p.parseAssignTarget(true)
	if err != nil {
		return nil, err
	}
	if p.skipOp("=") {
		v, err := p.parseTuple(true, false)
		if err != nil {
			return nil, err
		}
		return &setStmt{pos: pos{line}, target: target, value: v}, p.expectBlockEnd()
	}
	s := &setStmt{pos: pos{line}, target: target}
	if p.isOp("|") {
		fs, err := p.parseFilterChain()
		if err != nil {
			return nil, err
		}
		s.filter = chainFilters(fs)
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	p.push(line)
	defer p.pop()
	if s.body, _, err = p.subparse("endset"); err != nil {
		return nil, err
	}
	return s, p.expectBlockEnd()
}

// chainFilters nests f1|f2|f3 so the outermost is applied last.
func chainFilters(fs []*filterExpr) *filterExpr {
	var cur *filterExpr
	for _, f := range fs {
		if cur != nil {
			f.obj = cur
		}
		cur = f
	}
	return cur
}

func (p *parser) parseFilterChain() ([]*filterExpr, error) {
	var fs []*filterExpr
	for p.skipOp("|") {
		f, err := p.parseFilterName(nil)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// parseSignature reads (a, b=1, ...) of a macro or a call block's caller.
func (p *parser) parseSignature(m *Macro) error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	for !p.isOp(")") {
		if len(m.Params) > 0 {
			if err := p.expectOp(","); err != nil {
				return err
			}
			if p.isOp(")") {
				break
			}
		}
		n, err := p.expectName()
		if err != nil {
			return err
		}
		var def expr
		if p.skipOp("=") {
			if def, err = p.parseExpression(true); err != nil {
				return err
			}
		}
		m.Params = append(m.Params, n)
		m.defaults = append(m.defaults, def)
	}
	p.next()
	return nil
}

func (p *parser) parseMacro(line int, kind, prefix string) (stmt, error) {
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	m := &Macro{Name: prefix + name, File: p.name, Line: line, tpl: p.tpl}
	if err := p.parseSignature(m); err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	p.push(line)
	defer p.pop()
	p.depth++
	m.body, _, err = p.subparse("end" + kind)
	p.depth--
	if err != nil {
		return nil, err
	}
	// {% endmacro name %} may repeat the name.
	if p.cur().kind == tName {
		p.next()
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	scanMacro(m)
	if p.depth == 0 {
		if _, dup := p.tpl.Macros[m.Name]; !dup {
			p.tpl.MacroOrder = append(p.tpl.MacroOrder, m.Name)
		}
		p.tpl.Macros[m.Name] = m
	}
	return &macroStmt{pos{line}, m}, nil
}

// parseMaterialization reads dbt's {% materialization name, adapter='x' %}
// as a macro named materialization_name_adapter.
func (p *parser) parseMaterialization(line int) (stmt, error) {
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	adapter := "default"
	for p.skipOp(",") {
		k, err := p.expectName()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		if c, ok := v.(*constExpr); ok && k == "adapter" {
			adapter = Str(c.v)
		}
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	m := &Macro{Name: "materialization_" + name + "_" + adapter, File: p.name, Line: line, tpl: p.tpl}
	p.push(line)
	defer p.pop()
	p.depth++
	m.body, _, err = p.subparse("endmaterialization")
	p.depth--
	if err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	scanMacro(m)
	p.tpl.Macros[m.Name] = m
	p.tpl.MacroOrder = append(p.tpl.MacroOrder, m.Name)
	return nil, nil
}

func (p *parser) parseNamedBlock(line int, kind string) (stmt, error) {
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	m := &Macro{Name: name, File: p.name, Line: line, tpl: p.tpl}
	p.push(line)
	defer p.pop()
	m.body, _, err = p.subparse("end" + kind)
	if err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	scanMacro(m)
	p.tpl.Blocks = append(p.tpl.Blocks, &Block{Kind: kind, Name: name, Line: line, Body: m})
	return nil, nil
}

func (p *parser) parseCallBlock(line int) (stmt, error) {
	caller := &Macro{Name: "caller", File: p.name, Line: line, tpl: p.tpl}
	if p.isOp("(") {
		if err := p.parseSignature(caller); err != nil {
			return nil, err
		}
	}
	x, err := p.parseExpression(true)
	if err != nil {
		return nil, err
	}
	call, ok := x.(*callExpr)
	if !ok {
		return nil, p.errf(line, "expected a call after 'call'")
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	p.push(line)
	defer p.pop()
	p.depth++
	caller.body, _, err = p.subparse("endcall")
	p.depth--
	if err != nil {
		return nil, err
	}
	scanMacro(caller)
	return &callBlockStmt{pos{line}, call, caller}, p.expectBlockEnd()
}

func (p *parser) parseFilterBlock(line int) (stmt, error) {
	var fs []*filterExpr
	for {
		f, err := p.parseFilterName(nil)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
		if !p.skipOp("|") {
			break
		}
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	p.push(line)
	defer p.pop()
	body, _, err := p.subparse("endfilter")
	if err != nil {
		return nil, err
	}
	return &filterBlockStmt{pos{line}, fs, body}, p.expectBlockEnd()
}

func (p *parser) parseWith(line int) (stmt, error) {
	s := &withStmt{pos: pos{line}}
	for p.cur().kind != tBlockEnd {
		if len(s.targets) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		t, err := p.parseAssignTarget(false)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		s.targets = append(s.targets, t)
		s.values = append(s.values, v)
	}
	p.next()
	p.push(line)
	defer p.pop()
	body, _, err := p.subparse("endwith")
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, p.expectBlockEnd()
}

// Expressions, following Jinja2's grammar and precedence.

func (p *parser) isTupleEnd(extra []string) bool {
	t := p.cur()
	switch t.kind {
	case tVarEnd, tBlockEnd, tEOF:
		return true
	case tOp:
		return t.val == ")"
	case tName:
		for _, e := range extra {
			if t.val == e {
				return true
			}
		}
	}
	return false
}

func (p *parser) parseTuple(withCond, explicitParens bool) (expr, error) {
	return p.parseTupleEx(withCond, explicitParens, nil)
}

func (p *parser) parseTupleUntil(withCond bool, extra ...string) (expr, error) {
	return p.parseTupleEx(withCond, false, extra)
}

func (p *parser) parseTupleEx(withCond, explicitParens bool, extra []string) (expr, error) {
	line := p.cur().line
	var items []expr
	isTuple := false
	for {
		if len(items) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		if p.isTupleEnd(extra) {
			break
		}
		x, err := p.parseExpression(withCond)
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		if p.isOp(",") {
			isTuple = true
		} else {
			break
		}
	}
	if !isTuple {
		if len(items) > 0 {
			return items[0], nil
		}
		if !explicitParens {
			return nil, p.errf(line, "expected an expression, got %s", p.cur())
		}
	}
	return &tupleExpr{pos{line}, items}, nil
}

func (p *parser) parseExpression(withCond bool) (expr, error) {
	if withCond {
		return p.parseCondExpr()
	}
	return p.parseOr()
}

func (p *parser) parseCondExpr() (expr, error) {
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		line := p.next().line
		test, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var els expr
		if p.skipName("else") {
			if els, err = p.parseCondExpr(); err != nil {
				return nil, err
			}
		}
		x = &condExpr{pos{line}, test, x, els}
	}
	return x, nil
}

func (p *parser) parseOr() (expr, error) {
	return p.leftAssoc(p.parseAnd, func() bool { return p.isName("or") })
}

func (p *parser) parseAnd() (expr, error) {
	return p.leftAssoc(p.parseNot, func() bool { return p.isName("and") })
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		line := p.next().line
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{pos{line}, "not", x}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.cur().line
	x, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	var ops []string
	var rest []expr
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == "<=" || t.val == ">" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == tName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == tName && t.val == "not" && p.peek(1).kind == tName && p.peek(1).val == "in":
			op = "notin"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		rest = append(rest, r)
	}
	if len(ops) == 0 {
		return x, nil
	}
	return &compareExpr{pos{line}, x, ops, rest}, nil
}

func (p *parser) parseMath1() (expr, error) {
	return p.leftAssoc(p.parseConcat, func() bool { return p.isOp("+") || p.isOp("-") })
}

func (p *parser) parseConcat() (expr, error) {
	line := p.cur().line
	x, err := p.parseMath2()
	if err != nil {
		return nil, err
	}
	parts := []expr{x}
	for p.skipOp("~") {
		r, err := p.parseMath2()
		if err != nil {
			return nil, err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return x, nil
	}
	return &concatExpr{pos{line}, parts}, nil
}

func (p *parser) parseMath2() (expr, error) {
	return p.leftAssoc(p.parsePow, func() bool { return p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") })
}

func (p *parser) parsePow() (expr, error) {
	return p.leftAssoc(func() (expr, error) { return p.parseUnary(true) }, func() bool { return p.isOp("**") })
}

// leftAssoc parses operand (op operand)* into left-nested binary
// expressions: one level of the precedence ladder.
func (p *parser) leftAssoc(operand func() (expr, error), atOp func() bool) (expr, error) {
	x, err := operand()
	if err != nil {
		return nil, err
	}
	for atOp() {
		t := p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		x = &binExpr{pos{t.line}, t.val, x, r}
	}
	return x, nil
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	t := p.cur()
	var x expr
	var err error
	if t.kind == tOp && (t.val == "-" || t.val == "+") {
		p.next()
		inner, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		x = &unaryExpr{pos{t.line}, t.val, inner}
	} else if x, err = p.parsePrimary(); err != nil {
		return nil, err
	}
	if x, err = p.parsePostfix(x); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(x)
	}
	return x, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.cur()
	switch t.kind {
	case tName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{pos{t.line}, true}, nil
		case "false", "False":
			return &constExpr{pos{t.line}, false}, nil
		case "none", "None":
			return &constExpr{pos{t.line}, nil}, nil
		}
		n := &nameExpr{pos: pos{t.line}, name: t.val}
		p.reads = append(p.reads, n)
		return n, nil
	case tString:
		p.next()
		s := t.val
		for p.cur().kind == tString {
			s += p.next().val
		}
		return &constExpr{pos{t.line}, s}, nil
	case tInt, tFloat:
		p.next()
		return &constExpr{pos{t.line}, t.num}, nil
	case tOp:
		switch t.val {
		case "(":
			p.next()
			x, err := p.parseTuple(true, true)
			if err != nil {
				return nil, err
			}
			return x, p.expectOp(")")
		case "[":
			p.next()
			l := &listExpr{pos: pos{t.line}}
			for !p.isOp("]") {
				if len(l.items) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("]") {
						break
					}
				}
				x, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, x)
			}
			p.next()
			return l, nil
		case "{":
			p.next()
			d := &dictExpr{pos: pos{t.line}}
			for !p.isOp("}") {
				if len(d.keys) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("}") {
						break
					}
				}
				k, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
			}
			p.next()
			return d, nil
		}
	}
	return nil, p.errf(t.line, "unexpected %s", t)
}

func (p *parser) parsePostfix(x expr) (expr, error) {
	for {
		t := p.cur()
		if t.kind != tOp {
			return x, nil
		}
		switch t.val {
		case ".":
			p.next()
			a := p.cur()
			switch a.kind {
			case tName:
				p.next()
				x = &attrExpr{pos{t.line}, x, a.val}
			case tInt:
				p.next()
				x = &itemExpr{pos{t.line}, x, &constExpr{pos{a.line}, a.num}}
			default:
				return nil, p.errf(a.line, "expected a name after '.', got %s", a)
			}
		case "[":
			p.next()
			var keys []expr
			for !p.isOp("]") {
				if len(keys) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("]") {
						break
					}
				}
				k, err := p.parseSubscribed()
				if err != nil {
					return nil, err
				}
				keys = append(keys, k)
			}
			p.next()
			switch len(keys) {
			case 0:
				return nil, p.errf(t.line, "expected a subscript")
			case 1:
				if s, ok := keys[0].(*sliceExpr); ok {
					s.obj = x
					x = s
				} else {
					x = &itemExpr{pos{t.line}, x, keys[0]}
				}
			default:
				x = &itemExpr{pos{t.line}, x, &tupleExpr{pos{t.line}, keys}}
			}
		case "(":
			args, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{pos{t.line}, x, args}
		default:
			return x, nil
		}
	}
}

func (p *parser) parseSubscribed() (expr, error) {
	line := p.cur().line
	var parts [3]expr
	if !p.isOp(":") {
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		if !p.isOp(":") {
			return x, nil
		}
		parts[0] = x
	}
	p.next() // ':'
	if !p.isOp("]") && !p.isOp(",") && !p.isOp(":") {
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		parts[1] = x
	}
	if p.skipOp(":") && !p.isOp("]") && !p.isOp(",") {
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		parts[2] = x
	}
	return &sliceExpr{pos{line}, nil, parts[0], parts[1], parts[2]}, nil
}

func (p *parser) parseCallArgs() (callArgs, error) {
	var a callArgs
	if err := p.expectOp("("); err != nil {
		return a, err
	}
	first := true
	for !p.isOp(")") {
		if !first {
			if err := p.expectOp(","); err != nil {
				return a, err
			}
			if p.isOp(")") {
				break
			}
		}
		first = false
		switch {
		case p.isOp("*"):
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.star = x
		case p.isOp("**"):
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.dstar = x
		case p.cur().kind == tName && p.peek(1).kind == tOp && p.peek(1).val == "=":
			k := p.next().val
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.kwKeys = append(a.kwKeys, k)
			a.kwVals = append(a.kwVals, x)
		default:
			x, err := p.parseExpression(true)
			if err != nil {
				return a, err
			}
			a.pos = append(a.pos, x)
		}
	}
	p.next()
	return a, nil
}

func (p *parser) parseFilterName(obj expr) (*filterExpr, error) {
	line := p.cur().line
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	for p.isOp(".") && p.peek(1).kind == tName {
		p.next()
		name += "." + p.next().val
	}
	f := &filterExpr{pos: pos{line}, obj: obj, name: name}
	if p.isOp("(") {
		if f.args, err = p.parseCallArgs(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseFilterExpr(x expr) (expr, error) {
	for {
		switch {
		case p.isOp("|"):
			p.next()
			f, err := p.parseFilterName(x)
			if err != nil {
				return nil, err
			}
			x = f
		case p.isName("is"):
			line := p.next().line
			neg := p.skipName("not")
			name, err := p.expectName()
			if err != nil {
				return nil, err
			}
			for p.isOp(".") && p.peek(1).kind == tName {
				p.next()
				name += "." + p.next().val
			}
			te := &testExpr{pos: pos{line}, obj: x, name: name, neg: neg}
			t := p.cur()
			if p.isOp("(") {
				if te.args, err = p.parseCallArgs(); err != nil {
					return nil, err
				}
			} else if (t.kind == tName || t.kind == tString || t.kind == tInt || t.kind == tFloat || t.kind == tOp && (t.val == "[" || t.val == "{")) &&
				!(t.kind == tName && (t.val == "else" || t.val == "or" || t.val == "and")) {
				if t.kind == tName && t.val == "is" {
					return nil, p.errf(t.line, "you cannot chain multiple tests with 'is'")
				}
				arg, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				if arg, err = p.parsePostfix(arg); err != nil {
					return nil, err
				}
				te.args.pos = []expr{arg}
			}
			x = te
		case p.isOp("("):
			args, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{pos{p.cur().line}, x, args}
		default:
			return x, nil
		}
	}
}

// scanMacro records whether a macro's body reads varargs, kwargs or caller.
func scanMacro(m *Macro) {
	var walkE func(e expr)
	var walkS func(ss []stmt)
	walkArgs := func(a callArgs) {
		for _, x := range a.pos {
			walkE(x)
		}
		for _, x := range a.kwVals {
			walkE(x)
		}
		if a.star != nil {
			walkE(a.star)
		}
		if a.dstar != nil {
			walkE(a.dstar)
		}
	}
	walkE = func(e expr) {
		switch x := e.(type) {
		case *nameExpr:
			switch x.name {
			case "kwargs":
				m.CatchKwargs = true
			case "varargs":
				m.CatchVarargs = true
			case "caller":
				m.CallerUsed = true
			}
		case *listExpr:
			for _, i := range x.items {
				walkE(i)
			}
		case *tupleExpr:
			for _, i := range x.items {
				walkE(i)
			}
		case *dictExpr:
			for i := range x.keys {
				walkE(x.keys[i])
				walkE(x.vals[i])
			}
		case *attrExpr:
			walkE(x.obj)
		case *itemExpr:
			walkE(x.obj)
			walkE(x.key)
		case *sliceExpr:
			for _, y := range []expr{x.obj, x.start, x.stop, x.stp} {
				if y != nil {
					walkE(y)
				}
			}
		case *callExpr:
			walkE(x.fn)
			walkArgs(x.args)
		case *filterExpr:
			if x.obj != nil {
				walkE(x.obj)
			}
			walkArgs(x.args)
		case *testExpr:
			walkE(x.obj)
			walkArgs(x.args)
		case *binExpr:
			walkE(x.l)
			walkE(x.r)
		case *unaryExpr:
			walkE(x.x)
		case *compareExpr:
			walkE(x.first)
			for _, r := range x.rest {
				walkE(r)
			}
		case *concatExpr:
			for _, r := range x.parts {
				walkE(r)
			}
		case *condExpr:
			walkE(x.test)
			walkE(x.then)
			if x.els != nil {
				walkE(x.els)
			}
		}
	}
	walkS = func(ss []stmt) {
		for _, s := range ss {
			switch x := s.(type) {
			case *outputStmt:
				walkE(x.x)
			case *ifStmt:
				for i := range x.conds {
					walkE(x.conds[i])
					walkS(x.bodies[i])
				}
				walkS(x.els)
			case *forStmt:
				walkE(x.iter)
				if x.filter != nil {
					walkE(x.filter)
				}
				walkS(x.body)
				walkS(x.els)
			case *setStmt:
				if x.value != nil {
					walkE(x.value)
				}
				walkS(x.body)
			case *callBlockStmt:
				walkE(x.call)
				walkS(x.caller.body)
			case *filterBlockStmt:
				walkS(x.body)
			case *doStmt:
				walkE(x.x)
			case *withStmt:
				for _, v := range x.values {
					walkE(v)
				}
				walkS(x.body)
			case *macroStmt:
				// a nested macro's kwargs are its own; caller is shared
			}
		}
	}
	for _, d := range m.defaults {
		if d != nil {
			walkE(d)
		}
	}
	walkS(m.body)
}

func (p *parser) assign(name string) {
	if p.assigned == nil {
		p.assigned = map[string]bool{}
	}
	p.assigned[name] = true
}
