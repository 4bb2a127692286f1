package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/project"
)

// Suffixes of the warehouse relations Tandem manages beside a model's own.
const (
	stageSuffix   = "__tandem_stage"
	versionSuffix = "__tandem_v"
)

func q(s string) string { return project.QuoteIdent(s) }

func rel(schema, name string) string { return q(schema) + "." + q(name) }

func (r *Runner) ensureSchema(ctx context.Context, schema string) error {
	// One creation at a time: two threads creating the same schema at once
	// conflict in DuckDB's catalog ("write-write conflict on create").
	r.schemaMu.Lock()
	defer r.schemaMu.Unlock()
	r.catMu.Lock()
	done := r.schemas[schema]
	r.catMu.Unlock()
	if done {
		return nil
	}
	if _, err := r.Warehouse.Exec(ctx, "create schema if not exists "+q(schema)); err != nil {
		return err
	}
	r.catMu.Lock()
	r.schemas[schema] = true
	r.catMu.Unlock()
	return nil
}

// kind returns "table", "view" or "" for a relation, from the run's catalog.
func (r *Runner) kind(schema, name string) string {
	r.catMu.Lock()
	defer r.catMu.Unlock()
	return r.catalog[schema+"."+name]
}

// setKind records a change the runner committed ("" for a drop).
func (r *Runner) setKind(schema, name, kind string) {
	r.catMu.Lock()
	defer r.catMu.Unlock()
	if kind == "" {
		delete(r.catalog, schema+"."+name)
	} else {
		r.catalog[schema+"."+name] = kind
	}
}

func (r *Runner) compile(n *tandem.Node, exists bool, res *tandem.NodeResult) (string, error) {
	sql, err := r.Project.Compile(n.ID, project.CompileContext{Exists: exists, FullRefresh: r.fullRefresh(n), Vars: r.Vars, Query: r.introspect})
	if err != nil {
		return "", err
	}
	sql = strings.TrimRight(strings.TrimSpace(sql), ";")
	res.CompiledSQL = sql
	if sql == "" {
		return "", tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "the model renders to empty SQL")
	}
	return sql, nil
}

func (r *Runner) fullRefresh(n *tandem.Node) bool {
	if n.FullRefresh != nil { // config(full_refresh=false) protects a table
		return *n.FullRefresh && r.FullRefresh
	}
	return r.FullRefresh
}

// view replaces the view in one statement; a failure leaves the old one.
func (r *Runner) view(ctx context.Context, n *tandem.Node, res *tandem.NodeResult) error {
	sql, err := r.compile(n, false, res)
	if err != nil {
		return err
	}
	schema := r.Project.SchemaOf(n)
	if err := r.ensureSchema(ctx, schema); err != nil {
		return err
	}
	kind := r.kind(schema, n.Relation())
	err = r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		if kind == "table" { // materialization changed from table to view
			if _, err := tx.Exec(ctx, "drop table "+rel(schema, n.Relation())); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, fmt.Sprintf("create or replace view %s as\n%s", rel(schema, n.Relation()), sql))
		return inCompiled(err, sql)
	})
	if err == nil {
		r.setKind(schema, n.Relation(), "view")
	}
	return err
}

// table builds the model under a staging name, then publishes it.
func (r *Runner) table(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	sql, err := r.compile(n, false, res)
	if err != nil {
		return err
	}
	return r.buildAndPublish(ctx, run, n, res, func(tx tandem.Execer, stage string) error {
		_, err := tx.Exec(ctx, fmt.Sprintf("create table %s as\n%s", stage, sql))
		return inCompiled(err, sql)
	})
}

// buildAndPublish builds the stage and swaps it in, in one transaction:
// until it commits, readers see the previous table, and a failed or killed
// build leaves nothing behind. The live table becomes the newest kept
// version (or is dropped when none are kept); versions beyond KeepVersions
// are dropped in the same transaction.
func (r *Runner) buildAndPublish(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult, build func(tx tandem.Execer, stage string) error) error {
	schema, name := r.Project.SchemaOf(n), n.Relation()
	stageName := name + stageSuffix
	stage := rel(schema, stageName)
	if err := r.ensureSchema(ctx, schema); err != nil {
		return err
	}
	kind := r.kind(schema, name)
	keep := r.KeepVersions > 0 && kind == "table"
	var versions []*tandem.TableVersion
	next := 1
	if keep {
		var err error
		if versions, err = r.Meta.TableVersions(ctx, n.ID); err != nil {
			return err
		}
		if len(versions) > 0 {
			next = versions[0].Version + 1
		}
	}
	versionName := fmt.Sprintf("%s%s%d", name, versionSuffix, next)
	var oldRows int64
	var dropped []*tandem.TableVersion
	err := r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		if r.kind(schema, stageName) != "" { // left by an older Tandem
			if _, err := tx.Exec(ctx, "drop table "+stage); err != nil {
				return err
			}
		}
		if err := build(tx, stage); err != nil {
			return err
		}
		rows, err := count(ctx, tx, stage)
		if err != nil {
			return err
		}
		res.Rows = rows
		switch {
		case kind == "view":
			_, err = tx.Exec(ctx, "drop view "+rel(schema, name))
		case keep:
			if oldRows, err = count(ctx, tx, rel(schema, name)); err == nil {
				_, err = tx.Exec(ctx, fmt.Sprintf("alter table %s rename to %s", rel(schema, name), q(versionName)))
			}
		case kind == "table":
			_, err = tx.Exec(ctx, "drop table "+rel(schema, name))
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("alter table %s rename to %s", stage, q(name))); err != nil {
			return err
		}
		if keep { // the new version counts: keep KeepVersions in all
			for i := r.KeepVersions - 1; i < len(versions); i++ {
				s, nm, _ := strings.Cut(versions[i].Stored, ".")
				if _, err := tx.Exec(ctx, "drop table if exists "+rel(s, nm)); err != nil {
					return err
				}
				dropped = append(dropped, versions[i])
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.setKind(schema, name, "table")
	res.Status = tandem.StatusSuccess
	if !keep {
		return nil
	}
	// The warehouse is committed; the metadata follows. Were the process to
	// die in between, a kept version would be missing from the history (and
	// stay in the warehouse as an unlisted table), never the other way.
	r.setKind(schema, versionName, "table")
	if err := r.Meta.AddTableVersion(ctx, &tandem.TableVersion{Node: n.ID, Relation: schema + "." + name, Version: next,
		Stored: schema + "." + versionName, RunID: run.ID, CreatedAt: r.Clock(), Rows: oldRows}); err != nil {
		return err
	}
	for _, v := range dropped {
		s, nm, _ := strings.Cut(v.Stored, ".")
		r.setKind(s, nm, "")
		if err := r.Meta.DeleteTableVersion(ctx, n.ID, v.Version); err != nil {
			return err
		}
	}
	return nil
}

func count(ctx context.Context, db interface {
	Query(context.Context, string, int, ...any) (*tandem.Rows, error)
}, relation string) (int64, error) {
	rows, err := db.Query(ctx, "select count(*) from "+relation, 1)
	if err != nil {
		return 0, err
	}
	return conv.Int64(rows.Rows[0][0]), nil
}

// incremental inserts only new rows into an existing table, in one
// transaction; on the first run or with --full-refresh it builds a table.
func (r *Runner) incremental(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	schema, name := r.Project.SchemaOf(n), n.Relation()
	if r.kind(schema, name) != "table" || r.fullRefresh(n) {
		err := r.table(ctx, run, n, res)
		res.TableRows = res.Rows // built whole: every row was added
		return err
	}
	sql, err := r.compile(n, true, res)
	if err != nil {
		return err
	}
	stageName := name + stageSuffix
	stage, target := rel(schema, stageName), rel(schema, name)
	// Everything happens in one transaction, the stage included: a failed
	// or killed run leaves the table exactly as it was.
	return r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		if r.kind(schema, stageName) != "" {
			if _, err := tx.Exec(ctx, "drop table "+stage); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s as\n%s", stage, sql)); err != nil {
			return inCompiled(err, sql)
		}
		// on_schema_change: ignore (dbt's default): new columns of the
		// query are left out, missing ones become NULL.
		targetCols, err := columnNames(ctx, tx, schema, name)
		if err != nil {
			return err
		}
		stageCols, err := columnNames(ctx, tx, schema, stageName)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, c := range stageCols {
			have[strings.ToLower(c)] = true
		}
		var cols []string
		for _, c := range targetCols {
			if have[strings.ToLower(c)] {
				cols = append(cols, q(c))
			}
		}
		for _, k := range n.UniqueKey {
			if !have[strings.ToLower(k)] {
				file, line := r.Project.ConfigAt(n, "unique_key")
				return tandem.FileErrorf(tandem.EINVALID, file, line, "unique_key %q is not a column of the model's query (columns: %s)", k, strings.Join(stageCols, ", "))
			}
		}
		colList := strings.Join(cols, ", ")
		conds := make([]string, len(n.UniqueKey))
		for i, k := range n.UniqueKey {
			conds[i] = fmt.Sprintf("t.%s is not distinct from s.%s", q(k), q(k))
		}
		switch n.Strategy {
		case "merge":
			sets := make([]string, len(cols))
			vals := make([]string, len(cols))
			for i, c := range cols {
				sets[i] = fmt.Sprintf("%s = s.%s", c, c)
				vals[i] = "s." + c
			}
			res.Rows, err = tx.Exec(ctx, fmt.Sprintf("merge into %s as t using %s as s on (%s)\nwhen matched then update set %s\nwhen not matched then insert (%s) values (%s)",
				target, stage, strings.Join(conds, " and "), strings.Join(sets, ", "), colList, strings.Join(vals, ", ")))
		case "delete+insert":
			if _, err = tx.Exec(ctx, fmt.Sprintf("delete from %s as t where exists (select 1 from %s as s where %s)", target, stage, strings.Join(conds, " and "))); err == nil {
				res.Rows, err = tx.Exec(ctx, fmt.Sprintf("insert into %s (%s) select %s from %s", target, colList, colList, stage))
			}
		default: // append
			res.Rows, err = tx.Exec(ctx, fmt.Sprintf("insert into %s (%s) select %s from %s", target, colList, colList, stage))
		}
		if err != nil {
			return err
		}
		if res.TableRows, err = count(ctx, tx, target); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "drop table "+stage)
		return err
	})
}

func columnNames(ctx context.Context, tx tandem.Execer, schema, name string) ([]string, error) {
	names, _, err := columns(ctx, tx, rel(schema, name))
	return names, err
}

// columns lists a relation's columns and their types.
func columns(ctx context.Context, tx tandem.Execer, relation string) (names, types []string, err error) {
	rows, err := tx.Query(ctx, "select name, type from pragma_table_info('"+strings.ReplaceAll(relation, "'", "''")+"')", 0)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rows.Rows {
		names = append(names, fmt.Sprint(r[0]))
		types = append(types, fmt.Sprint(r[1]))
	}
	return names, types, nil
}

// seed loads a CSV with inferred (or configured) types, then publishes it
// like a table.
func (r *Runner) seed(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	s, err := project.ReadSeed(r.Project.Dir, n)
	if err != nil {
		return err
	}
	return r.buildAndPublish(ctx, run, n, res, func(tx tandem.Execer, stage string) error {
		defs := make([]string, len(s.Columns))
		for i, c := range s.Columns {
			defs[i] = q(c.Name) + " " + c.Type
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s (%s)", stage, strings.Join(defs, ", "))); err != nil {
			return err
		}
		const batch = 500
		for start := 0; start < len(s.Rows); start += batch {
			end := min(start+batch, len(s.Rows))
			var b strings.Builder
			fmt.Fprintf(&b, "insert into %s values ", stage)
			for i, row := range s.Rows[start:end] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('(')
				for j, v := range row {
					if j > 0 {
						b.WriteString(", ")
					}
					if v == nil {
						b.WriteString("NULL")
					} else {
						fmt.Fprintf(&b, "'%s'::%s", strings.ReplaceAll(*v, "'", "''"), s.Columns[j].Type)
					}
				}
				b.WriteByte(')')
			}
			if _, err := tx.Exec(ctx, b.String()); err != nil {
				return tandem.FileErrorf(tandem.EINVALID, n.Path, start+2, "loading rows %d-%d: %v; fix the value or set column_types for the seed", start+2, end+1, err)
			}
		}
		return nil
	})
}

// test runs a test query as dbt does: failures are fail_calc over its rows
// (count(*) unless the test sets another), and warn_if / error_if (!= 0
// unless set) decide warn and fail; limit caps the rows looked at.
func (r *Runner) test(ctx context.Context, n *tandem.Node, res *tandem.NodeResult) error {
	if spec := n.Test; spec.Name != "" && spec.Column != "" {
		if err := r.checkColumn(ctx, n); err != nil {
			return err
		}
	}
	set := map[string]any{} // what the test's own config() calls set
	sql, err := r.Project.Compile(n.ID, project.CompileContext{Vars: r.Vars, Query: r.introspect, Config: set})
	if err != nil {
		return err
	}
	sql = strings.TrimRight(strings.TrimSpace(sql), ";")
	res.CompiledSQL = sql
	if sql == "" {
		return tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "the test renders to empty SQL")
	}
	cfg := func(key, def string) string {
		if v, ok := n.Config[key]; ok && v != nil { // the yml wins over the test's config()
			return fmt.Sprint(v)
		}
		if v, ok := set[key]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return def
	}
	failCalc, warnIf, errorIf := cfg("fail_calc", "count(*)"), cfg("warn_if", "!= 0"), cfg("error_if", "!= 0")
	inner := sql
	if limit := cfg("limit", ""); limit != "" {
		inner += "\nlimit " + limit
	}
	q := fmt.Sprintf("select %s as failures, (%s) %s as should_warn, (%s) %s as should_error from (\n%s\n) dbt_internal_test", failCalc, failCalc, warnIf, failCalc, errorIf, inner)
	rows, err := r.Warehouse.Query(ctx, q, 1)
	if err != nil {
		return inCompiled(err, sql)
	}
	var failures int64
	var warn, fail bool
	if len(rows.Rows) == 1 {
		row := rows.Rows[0]
		failures = conv.Int64(row[0])
		warn, _ = row[1].(bool)
		fail, _ = row[2].(bool)
	}
	res.Rows = failures
	unit := "failing rows"
	if failCalc != "count(*)" {
		unit = "failures (" + strings.Join(strings.Fields(failCalc), " ") + ")"
	}
	if (fail || warn) && isUnitTest(n) {
		unit = "rows differ from the expected ones" + r.unitDiff(ctx, sql)
	}
	switch {
	case fail && n.Test.Severity != "warn":
		res.Status, res.Message = tandem.StatusFail, fmt.Sprintf("%d %s", failures, unit)
	case warn:
		res.Status, res.Message = tandem.StatusWarn, fmt.Sprintf("%d %s (severity warn)", failures, unit)
	default:
		res.Status = tandem.StatusSuccess
	}
	return nil
}

// unitDiff shows the first differing rows of a failed unit test.
func (r *Runner) unitDiff(ctx context.Context, sql string) string {
	rows, err := r.Warehouse.Query(ctx, sql, 10)
	if err != nil || len(rows.Rows) == 0 {
		return ""
	}
	var b strings.Builder
	names := make([]string, len(rows.Columns))
	for i, c := range rows.Columns {
		names[i] = c.Name
	}
	b.WriteString(":\n  " + strings.Join(names, " | "))
	for _, row := range rows.Rows {
		parts := make([]string, len(row))
		for i, v := range row {
			parts[i] = fmt.Sprint(v)
			if v == nil {
				parts[i] = "null"
			}
		}
		b.WriteString("\n  " + strings.Join(parts, " | "))
	}
	return b.String()
}

// checkColumn gives a test on a missing column a clear error.
func (r *Runner) checkColumn(ctx context.Context, n *tandem.Node) error {
	target := r.Project.Nodes[n.Test.Attached]
	relation := r.Project.Relation(target)
	if relation.Expr != "" || strings.ContainsAny(n.Test.Column, " ()'\"") {
		return nil // an external source or an expression: let the query tell
	}
	cols, err := r.Warehouse.Columns(ctx, relation.Schema, relation.Name)
	if err != nil {
		return nil // the relation is missing; the query's error says so
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		if strings.EqualFold(c.Name, n.Test.Column) {
			return nil
		}
		names[i] = c.Name
	}
	return tandem.FileErrorf(tandem.EINVALID, n.Path, n.Line, "test %s: column %q is not in %s (columns: %s)",
		n.Test.Name, n.Test.Column, target.Name, strings.Join(names, ", "))
}

// introspect runs the queries a template makes while compiling (dbt's
// run_query, statement blocks, adapter.get_columns_in_relation).
func (r *Runner) introspect(sql string) (*project.QueryResult, error) {
	rows, err := r.Warehouse.Query(context.Background(), sql, 0)
	if err != nil {
		return nil, err
	}
	res := &project.QueryResult{Rows: rows.Rows}
	for _, c := range rows.Columns {
		res.Columns = append(res.Columns, c.Name)
	}
	return res, nil
}
