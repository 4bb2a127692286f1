package project

import (
	"strings"

	"github.com/tandem-data/tandem/jinja"
)

// QueryResult is what a query run while compiling returned.
type QueryResult struct {
	Columns []string
	Rows    [][]any
}

// Query runs SQL on the warehouse while a template compiles (run_query,
// {% call statement %}).
type Query func(sql string) (*QueryResult, error)

// introspection adds dbt's statement, load_result and run_query. They
// query the warehouse only when executing (execute is true) and a Query is
// given; while parsing they do nothing and return none, as in dbt.
func (rc *renderCall) introspection(g map[string]any) {
	results := map[string]*QueryResult{}
	run := func(sql string) (*QueryResult, error) {
		if rc.mode != compileMode || rc.cc.Query == nil {
			return nil, nil
		}
		return rc.cc.Query(sql)
	}
	g["statement"] = jinja.Func(func(a *jinja.Args) (any, error) {
		name, _ := a.Arg(0, "name")
		caller, _ := a.Kwarg("caller")
		if caller == nil || a.R == nil {
			return "", nil
		}
		sqlv, err := a.R.Call(caller, &jinja.Args{})
		if err != nil {
			return nil, err
		}
		res, err := run(jinja.Str(sqlv))
		if err != nil {
			return nil, userError("statement %s: %v", jinja.Str(name), err)
		}
		if res != nil && name != nil {
			results[jinja.Str(name)] = res
		}
		return "", nil
	})
	g["load_result"] = jinja.Func(func(a *jinja.Args) (any, error) {
		name, _ := a.Arg(0, "name")
		res, ok := results[jinja.Str(name)]
		if !ok {
			return nil, nil
		}
		return resultDict(res), nil
	})
	g["adapter"] = map[string]any{
		"get_columns_in_relation": jinja.Func(func(a *jinja.Args) (any, error) {
			rel, _ := a.Arg(0, "relation")
			cols, err := rc.columnsOf(rel, run)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(cols))
			for i, c := range cols {
				out[i] = c
			}
			return &jinja.List{Items: out}, nil
		}),
		"get_relation": jinja.Func(func(a *jinja.Args) (any, error) {
			db, _ := a.Arg(0, "database")
			schema, _ := a.Arg(1, "schema")
			name, _ := a.Arg(2, "identifier")
			res, err := run("select table_schema, table_name from information_schema.tables where lower(table_schema) = lower(" + QuoteString(jinja.Str(schema)) + ") and lower(table_name) = lower(" + QuoteString(jinja.Str(name)) + ")")
			if err != nil || res == nil || len(res.Rows) == 0 {
				return nil, err
			}
			return Relation{Database: jinja.Str(db), Schema: jinja.Str(res.Rows[0][0]), Name: jinja.Str(res.Rows[0][1])}, nil
		}),
		// drop_relation and truncate_relation, for hooks and operations
		// (dbt_utils drops a seed in its post-hook).
		"drop_relation": jinja.Func(func(a *jinja.Args) (any, error) {
			v, _ := a.Arg(0, "relation")
			rel, ok := v.(Relation)
			if !ok {
				return nil, userError("drop_relation expects a relation, got %s", jinja.Repr(v))
			}
			res, err := run("select table_type from information_schema.tables where table_schema = " + QuoteString(rel.Schema) + " and table_name = " + QuoteString(rel.Name))
			if err != nil || res == nil || len(res.Rows) == 0 {
				return "", err
			}
			kind := "table"
			if jinja.Str(res.Rows[0][0]) == "VIEW" {
				kind = "view"
			}
			_, err = run("drop " + kind + " if exists " + rel.String())
			return "", err
		}),
		"truncate_relation": jinja.Func(func(a *jinja.Args) (any, error) {
			v, _ := a.Arg(0, "relation")
			rel, ok := v.(Relation)
			if !ok {
				return nil, userError("truncate_relation expects a relation, got %s", jinja.Repr(v))
			}
			_, err := run("delete from " + rel.String())
			return "", err
		}),
		"get_missing_columns": jinja.Func(func(a *jinja.Args) (any, error) {
			from, _ := a.Arg(0, "from_relation")
			to, _ := a.Arg(1, "to_relation")
			fc, err := rc.columnsOf(from, run)
			if err != nil {
				return nil, err
			}
			tc, err := rc.columnsOf(to, run)
			if err != nil {
				return nil, err
			}
			have := map[string]bool{}
			for _, c := range tc {
				have[strings.ToLower(c.Name)] = true
			}
			out := []any{}
			for _, c := range fc {
				if !have[strings.ToLower(c.Name)] {
					out = append(out, c)
				}
			}
			return &jinja.List{Items: out}, nil
		}),
	}
	g["run_query"] = jinja.Func(func(a *jinja.Args) (any, error) {
		sql, _ := a.Arg(0, "sql")
		res, err := run(jinja.Str(sql))
		if err != nil {
			return nil, userError("run_query: %v", err)
		}
		if res == nil {
			return nil, nil
		}
		return &agateTable{res}, nil
	})
}

func rowsOf(res *QueryResult) *jinja.List {
	rows := make([]any, len(res.Rows))
	for i, r := range res.Rows {
		t := make(jinja.Tuple, len(r))
		for j, v := range r {
			t[j] = jinja.FromGo(v)
		}
		rows[i] = t
	}
	return &jinja.List{Items: rows}
}

// resultDict is what load_result returns: data (rows), table and response.
func resultDict(res *QueryResult) *jinja.Dict {
	d := jinja.NewDict()
	_ = d.Set("data", rowsOf(res))
	_ = d.Set("table", &agateTable{res})
	_ = d.Set("response", jinja.NewDict())
	return d
}

// agateTable is the shape of the agate.Table dbt returns from run_query:
// rows, columns (each with name and values()), column_names.
type agateTable struct{ res *QueryResult }

func (t *agateTable) Attr(name string) (any, bool) {
	switch name {
	case "rows":
		return rowsOf(t.res), true
	case "column_names":
		return t.res.Columns, true
	case "columns":
		cols := make([]any, len(t.res.Columns))
		for i, c := range t.res.Columns {
			cols[i] = &agateColumn{name: c, t: t, i: i}
		}
		return &mappedSequence{names: t.res.Columns, vals: cols}, true
	case "print_table":
		return jinja.Func(func(*jinja.Args) (any, error) { return "", nil }), true
	}
	return nil, false
}

func (t *agateTable) Iter() []any { return rowsOf(t.res).Items }

// mappedSequence is agate's MappedSequence (a table's columns): it
// iterates its values, and answers [i], [name], keys(), values(), items()
// and get().
type mappedSequence struct {
	names []string
	vals  []any
}

func (m *mappedSequence) Iter() []any { return m.vals }

func (m *mappedSequence) Index(key any) (any, bool) {
	switch k := key.(type) {
	case int64:
		if k < 0 {
			k += int64(len(m.vals))
		}
		if k >= 0 && k < int64(len(m.vals)) {
			return m.vals[k], true
		}
	case string:
		for i, n := range m.names {
			if n == k {
				return m.vals[i], true
			}
		}
	}
	return nil, false
}

func (m *mappedSequence) Attr(name string) (any, bool) {
	switch name {
	case "keys":
		return jinja.Func(func(*jinja.Args) (any, error) { return jinja.FromGo(m.names), nil }), true
	case "values":
		return jinja.Func(func(*jinja.Args) (any, error) { return &jinja.List{Items: m.vals}, nil }), true
	case "items":
		return jinja.Func(func(*jinja.Args) (any, error) {
			out := make([]any, len(m.vals))
			for i, v := range m.vals {
				out[i] = jinja.Tuple{m.names[i], v}
			}
			return &jinja.List{Items: out}, nil
		}), true
	case "get":
		return jinja.Func(func(a *jinja.Args) (any, error) {
			k, _ := a.Arg(0, "key")
			if v, ok := m.Index(k); ok {
				return v, nil
			}
			def, _ := a.Arg(1, "default")
			return def, nil
		}), true
	}
	return nil, false
}

type agateColumn struct {
	name string
	t    *agateTable
	i    int
}

func (c *agateColumn) Attr(name string) (any, bool) {
	switch name {
	case "name":
		return c.name, true
	case "values":
		return jinja.Func(func(*jinja.Args) (any, error) {
			vals := make(jinja.Tuple, len(c.t.res.Rows))
			for i, r := range c.t.res.Rows {
				vals[i] = jinja.FromGo(r[c.i])
			}
			return vals, nil
		}), true
	}
	return nil, false
}

// Column is what adapter.get_columns_in_relation returns for each column.
type Column struct {
	Name, Type string
}

// Attr implements jinja.Getter with dbt's Column attributes.
func (c *Column) Attr(name string) (any, bool) {
	switch name {
	case "name", "column":
		return c.Name, true
	case "quoted":
		return QuoteIdent(c.Name), true
	case "data_type", "dtype":
		return c.Type, true
	case "is_string":
		return jinja.Func(func(*jinja.Args) (any, error) {
			t := strings.ToUpper(c.Type)
			return strings.Contains(t, "CHAR") || t == "TEXT" || t == "STRING", nil
		}), true
	case "is_number", "is_numeric":
		return jinja.Func(func(*jinja.Args) (any, error) {
			t := strings.ToUpper(c.Type)
			for _, n := range []string{"INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL"} {
				if strings.Contains(t, n) {
					return true, nil
				}
			}
			return false, nil
		}), true
	case "is_float":
		return jinja.Func(func(*jinja.Args) (any, error) {
			t := strings.ToUpper(c.Type)
			return strings.Contains(t, "DOUBLE") || strings.Contains(t, "FLOAT") || t == "REAL", nil
		}), true
	case "is_integer":
		return jinja.Func(func(*jinja.Args) (any, error) { return strings.Contains(strings.ToUpper(c.Type), "INT"), nil }), true
	}
	return nil, false
}

func (c *Column) String() string { return "<Column " + c.Name + " (" + c.Type + ")>" }

// columnsOf lists a relation's columns from the warehouse: none while
// parsing, as dbt (which does not run queries then) gives.
func (rc *renderCall) columnsOf(rel any, run func(string) (*QueryResult, error)) ([]*Column, error) {
	r, ok := rel.(Relation)
	if !ok {
		return nil, userError("get_columns_in_relation expects a relation (ref(), source() or this), got %s", jinja.Repr(rel))
	}
	q := "select column_name, data_type from information_schema.columns where table_name = " + QuoteString(r.Name)
	if r.Schema != "" {
		q += " and table_schema = " + QuoteString(r.Schema)
	}
	res, err := run(q + " order by ordinal_position")
	if err != nil || res == nil {
		return nil, err
	}
	cols := make([]*Column, len(res.Rows))
	for i, row := range res.Rows {
		cols[i] = &Column{Name: jinja.Str(row[0]), Type: jinja.Str(row[1])}
	}
	return cols, nil
}
