package project

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
)

// unitTest is a dbt unit test (unit_tests: in a properties file): the
// model's SQL run on fixed input rows (given), compared with fixed output
// rows (expect).
type unitTest struct {
	model  string               // the model's node ID
	inputs map[string]*unitRows // "ref:name" or "source:src.table" -> rows
	expect *unitRows
	vars   map[string]any
	macros map[string]any // overrides: is_incremental, ...
	file   string
	line   int
}

// unitRows are fixture rows: dict rows, CSV text, or a SQL query.
type unitRows struct {
	format string           // dict, csv, sql
	rows   []map[string]any // dict and csv
	cols   []string         // columns in the order first seen
	sql    string           // sql
}

func (p *Project) addUnitTests(sd *schemaDoc, testPaths []string) error {
	lines := seqLines(sd.root, "unit_tests")
	for i, ut := range sd.f.UnitTests {
		line := lineAt(lines, i)
		name, _ := ut["name"].(string)
		model, _ := ut["model"].(string)
		if name == "" || model == "" {
			return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "a unit test needs a name and a model")
		}
		modelID, ok := p.byName[model]
		if !ok || p.Nodes[modelID].Kind != tandem.KindModel {
			msg := fmt.Sprintf("unit test %s: model %q does not exist", name, model)
			if near := nearest(model, sorted.Keys(p.byName)); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "%s", msg)
		}
		cfg := asMap(ut["config"])
		if en, ok := cfg["enabled"].(bool); ok && !en {
			continue
		}
		u := &unitTest{model: modelID, inputs: map[string]*unitRows{}, file: sd.rel, line: line}
		given, _ := ut["given"].([]any)
		for j, g := range given {
			gm := asMap(g)
			input := strings.TrimSpace(str(gm["input"]))
			key, err := p.unitInputKey(input)
			if err != nil {
				return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "unit test %s, given %d: %v", name, j+1, err)
			}
			rows, err := p.readUnitRows(gm, testPaths)
			if err != nil {
				return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "unit test %s, given %s: %v", name, input, err)
			}
			u.inputs[key] = rows
		}
		exp, err := p.readUnitRows(asMap(ut["expect"]), testPaths)
		if err != nil {
			return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "unit test %s, expect: %v", name, err)
		}
		u.expect = exp
		ov := asMap(ut["overrides"])
		u.vars = asMap(ov["vars"])
		u.macros = asMap(ov["macros"])
		target := p.Nodes[modelID]
		id := "unit_test." + p.Name + "." + model + "." + name
		if p.Nodes[id] != nil {
			return tandem.FileErrorf(tandem.EINVALID, sd.rel, line, "unit test %s of %s is defined twice", name, model)
		}
		n := &tandem.Node{
			ID: id, Kind: tandem.KindTest, Name: name, Path: sd.rel, Line: line, Description: str(ut["description"]),
			Materialized: tandem.TestMat, Enabled: true, Config: cfg, Tags: union(target.Tags, toStrings(cfg["tags"])),
			// It runs on fixtures, after what the model reads is built (for
			// the input columns' types), and needs nothing of the model.
			DependsOn: append([]string(nil), target.DependsOn...),
			Test:      &tandem.TestSpec{Attached: modelID, Severity: "error"},
		}
		p.Nodes[id] = n
		p.unitTests[id] = u
	}
	return nil
}

// unitInputKey reads given's input: ref('name') or source('src', 'table').
func (p *Project) unitInputKey(input string) (string, error) {
	if m := reRefArg.FindStringSubmatch(input); m != nil {
		if _, ok := p.byName[m[1]]; !ok {
			return "", fmt.Errorf("input %s: no model or seed named %q", input, m[1])
		}
		return "ref:" + m[1], nil
	}
	if m := reSourceArg.FindStringSubmatch(input); m != nil {
		if _, ok := p.sources[m[1]+"."+m[2]]; !ok {
			return "", fmt.Errorf("input %s: the source is not declared", input)
		}
		return "source:" + m[1] + "." + m[2], nil
	}
	return "", fmt.Errorf("input must be ref('model') or source('src', 'table'), got %q", input)
}

func (p *Project) readUnitRows(m map[string]any, testPaths []string) (*unitRows, error) {
	u := &unitRows{format: strings.ToLower(firstNonEmpty(str(m["format"]), "dict"))}
	if fx := str(m["fixture"]); fx != "" { // rows from <test-path>/fixtures/<name>.csv or .sql
		ext := map[string]string{"csv": ".csv", "sql": ".sql"}[u.format]
		if ext == "" {
			return nil, fmt.Errorf("fixture %s: a fixture file is csv or sql; set format: csv or format: sql", fx)
		}
		var text []byte
		var tried []string
		for _, d := range testPaths {
			f := filepath.Join(d, "fixtures", fx+ext)
			tried = append(tried, f)
			if b, err := os.ReadFile(filepath.Join(p.Dir, f)); err == nil {
				text = b
				break
			}
		}
		if text == nil {
			return nil, fmt.Errorf("fixture %s: no file %s", fx, strings.Join(tried, " or "))
		}
		m = map[string]any{"rows": string(text)}
	}
	seen := map[string]bool{}
	add := func(row map[string]any) {
		keys := sorted.Keys(row)
		if len(u.rows) == 0 { // keep the first row's order where YAML lost it
			sort.Strings(keys)
		}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				u.cols = append(u.cols, k)
			}
		}
		u.rows = append(u.rows, row)
	}
	switch u.format {
	case "dict":
		list, ok := m["rows"].([]any)
		if !ok && m["rows"] != nil {
			return nil, fmt.Errorf("rows must be a list of {column: value} mappings (format: dict)")
		}
		for _, r := range list {
			row := asMap(r)
			if row == nil {
				return nil, fmt.Errorf("each row must be a {column: value} mapping, got %v", r)
			}
			add(row)
		}
	case "csv":
		text, _ := m["rows"].(string)
		recs, err := csv.NewReader(strings.NewReader(strings.TrimSpace(text))).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("rows (format: csv): %v", err)
		}
		if len(recs) > 0 {
			u.cols = recs[0]
			for _, rec := range recs[1:] {
				row := map[string]any{}
				for i, c := range u.cols {
					if i < len(rec) {
						row[c] = rec[i]
					}
				}
				u.rows = append(u.rows, row)
			}
		}
	case "sql":
		u.sql, _ = m["rows"].(string)
		if strings.TrimSpace(u.sql) == "" {
			return nil, fmt.Errorf("rows (format: sql) must be a query")
		}
	default:
		return nil, fmt.Errorf("format %q is not one of dict, csv, sql", u.format)
	}
	return u, nil
}

// relationSQL is a fixture as a subquery. With types (the real relation's
// columns, when it exists), every column of the relation is there: given
// values cast to its type, the others NULL, as dbt fills them.
func (u *unitRows) relationSQL(cols []*Column) string {
	if u.format == "sql" {
		return "(" + u.sql + ")"
	}
	if len(cols) == 0 {
		for _, c := range u.cols {
			cols = append(cols, &Column{Name: c})
		}
	}
	if len(u.rows) == 0 {
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = "cast(null as " + firstNonEmpty(c.Type, "varchar") + ") as " + QuoteIdent(c.Name)
		}
		return "(select " + strings.Join(sel, ", ") + " where false)"
	}
	var b strings.Builder
	b.WriteString("(")
	for i, row := range u.rows {
		if i > 0 {
			b.WriteString("\nunion all ")
		}
		b.WriteString("select ")
		for j, c := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			v, ok := lookupFold(row, c.Name)
			lit := "null"
			if ok {
				lit = sqlLiteral(v)
			}
			if c.Type != "" {
				lit = "cast(" + lit + " as " + c.Type + ")"
			}
			b.WriteString(lit + " as " + QuoteIdent(c.Name))
		}
	}
	b.WriteString(")")
	return b.String()
}

func lookupFold(row map[string]any, col string) (any, bool) {
	if v, ok := row[col]; ok {
		return v, true
	}
	for k, v := range row {
		if strings.EqualFold(k, col) {
			return v, true
		}
	}
	return nil, false
}

func sqlLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int, int64, float64:
		return fmt.Sprint(x)
	case time.Time:
		return QuoteString(x.UTC().Format("2006-01-02 15:04:05.999999"))
	}
	return QuoteString(fmt.Sprint(v))
}

// compileUnitTest returns a query whose rows are the differences between
// what the model computes on the given rows and the expected rows (on the
// expected columns, as a multiset): each row with a marker saying whether
// it was expected and missing, or produced and not expected.
func (p *Project) compileUnitTest(n *tandem.Node, u *unitTest, cc CompileContext) (string, error) {
	model := p.Nodes[u.model]
	t, ok := p.templates[model.ID]
	if !ok {
		return "", tandem.Errorf(tandem.EINVALID, "%s has no SQL to compile", model.ID)
	}
	vars := map[string]any{}
	for k, v := range cc.Vars {
		vars[k] = v
	}
	for k, v := range u.vars {
		vars[k] = v
	}
	cc.Vars = vars
	rc := p.newRenderCall(model, compileMode, cc)
	rc.unit = u
	g := rc.globals()
	g[macroOverridesKey] = u.macros
	sql, err := t.Render(g, p.macros)
	if err == nil {
		err = rc.unitErr
	}
	if err != nil {
		return "", err
	}
	if sql, err = p.withCTEs(rc, sql); err != nil {
		return "", err
	}
	expect := u.expect.relationSQL(nil)
	cols := u.expect.cols
	if u.expect.format == "sql" {
		return fmt.Sprintf("with dbt_internal_unit_test_actual as (\n%s\n), dbt_internal_unit_test_expected as %s\n(select 'produced, not expected' as dbt_unit_diff, * from dbt_internal_unit_test_actual except all select 'produced, not expected', * from dbt_internal_unit_test_expected)\nunion all\n(select 'expected, not produced', * from dbt_internal_unit_test_expected except all select 'expected, not produced', * from dbt_internal_unit_test_actual)", sql, expect), nil
	}
	if len(cols) == 0 { // expect: rows: [] — the model must return nothing
		return fmt.Sprintf("with dbt_internal_unit_test_actual as (\n%s\n)\nselect 'produced, not expected' as dbt_unit_diff, * from dbt_internal_unit_test_actual", sql), nil
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = QuoteIdent(c)
	}
	list := strings.Join(quoted, ", ")
	return fmt.Sprintf("with dbt_internal_unit_test_actual as (\n%s\n), dbt_internal_unit_test_expected as (select * from %s)\n(select 'produced, not expected' as dbt_unit_diff, %s from dbt_internal_unit_test_actual except all select 'produced, not expected', %s from dbt_internal_unit_test_expected)\nunion all\n(select 'expected, not produced', %s from dbt_internal_unit_test_expected except all select 'expected, not produced', %s from dbt_internal_unit_test_actual)", sql, expect, list, list, list, list), nil
}

// unitInput is what ref() or source() gives inside a unit test: the
// fixture, typed like the real relation when it exists.
func (rc *renderCall) unitInput(key string, real Relation) (Relation, bool) {
	rows, ok := rc.unit.inputs[key]
	if !ok {
		return Relation{}, false
	}
	var cols []*Column
	if rc.cc.Query != nil { // the real relation's columns and types, when it is there
		if res, err := rc.cc.Query("describe select * from " + real.String()); err == nil && res != nil {
			for _, row := range res.Rows {
				cols = append(cols, &Column{Name: fmt.Sprint(row[0]), Type: fmt.Sprint(row[1])})
			}
		}
	}
	if rows.format == "sql" && (strings.Contains(rows.sql, "{{") || strings.Contains(rows.sql, "{%")) {
		// A SQL fixture may call the project's macros: it renders first.
		t, err := parseTemplate(rc.unit.file, rc.unit.line, rows.sql)
		if err == nil {
			var sql string
			if sql, err = t.Render(rc.globals(), rc.p.macros); err == nil {
				return Relation{Schema: real.Schema, Name: real.Name, Expr: "(" + sql + ")"}, true
			}
		}
		rc.unitErr = err
	}
	return Relation{Schema: real.Schema, Name: real.Name, Expr: rows.relationSQL(cols)}, true
}
