package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// snapshot records a type-2 history of the snapshot query's rows, as dbt
// does: each version of a row with dbt_valid_from and dbt_valid_to (NULL
// for the current one), dbt_updated_at and dbt_scd_id. A changed row (a
// newer updated_at, or a check column that differs) closes its current
// version and adds a new one; a new key adds a row; with hard_deletes:
// invalidate, a key the query no longer returns has its current version
// closed, and a key that comes back opens a new one. Everything happens in
// one transaction.
func (r *Runner) snapshot(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	sql, err := r.compile(n, false, res)
	if err != nil {
		return err
	}
	schema, name := r.Project.SchemaOf(n), n.Relation()
	if err := r.ensureSchema(ctx, schema); err != nil {
		return err
	}
	target := rel(schema, name)
	now := "cast(" + project.QuoteString(run.StartedAt.UTC().Format("2006-01-02 15:04:05.000000")) + " as timestamp)"
	keys := n.UniqueKey
	keyCols := make([]string, len(keys)) // the key expressions, computed on both sides
	for i := range keys {
		keyCols[i] = fmt.Sprintf("dbt_unique_key_%d", i+1)
	}
	keySelect := func() string {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("(%s) as %s", k, keyCols[i])
		}
		return strings.Join(parts, ", ")
	}
	keyText := func(alias string) string { // the key as text, for dbt_scd_id
		parts := make([]string, len(keys))
		for i := range keys {
			parts[i] = fmt.Sprintf("coalesce(cast(%s.%s as varchar), '')", alias, keyCols[i])
		}
		return strings.Join(parts, " || '|' || ")
	}
	timestamp := fmt.Sprint(n.Config["strategy"]) == "timestamp"
	updated := now
	if timestamp {
		updated = "(" + fmt.Sprint(n.Config["updated_at"]) + ")"
	}
	return r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		// The snapshot query, once, with its keys and its updated_at.
		if _, err := tx.Exec(ctx, fmt.Sprintf("create or replace temp table snapshot_source as select s.*, %s, %s as dbt_snapshot_updated_at from (\n%s\n) s", keySelect(), updated, sql)); err != nil {
			return inCompiled(err, sql)
		}
		defer tx.Exec(context.WithoutCancel(ctx), "drop table if exists snapshot_source")
		srcCols, srcTypes, err := columns(ctx, tx, "snapshot_source")
		if err != nil {
			return err
		}
		typeOf := map[string]string{}
		var dataCols []string // the query's own columns
		for i, c := range srcCols {
			typeOf[c] = srcTypes[i]
			if !strings.HasPrefix(c, "dbt_unique_key_") && c != "dbt_snapshot_updated_at" {
				dataCols = append(dataCols, c)
			}
		}
		quoted := make([]string, len(dataCols))
		for i, c := range dataCols {
			quoted[i] = q(c)
		}
		list := strings.Join(quoted, ", ")
		insert := func(where string) (int64, error) {
			return tx.Exec(ctx, fmt.Sprintf(`insert into %s (%s, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to)
select %s, md5(%s || '|' || coalesce(cast(s.dbt_snapshot_updated_at as varchar), '')), s.dbt_snapshot_updated_at, s.dbt_snapshot_updated_at, cast(null as timestamp)
from snapshot_source s %s`, target, list, prefixed("s", quoted), keyText("s"), where))
		}
		if r.kind(schema, name) == "" { // the first run: every row is current
			if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s as select %s, md5('') as dbt_scd_id, dbt_snapshot_updated_at as dbt_updated_at, cast(dbt_snapshot_updated_at as timestamp) as dbt_valid_from, cast(null as timestamp) as dbt_valid_to from snapshot_source limit 0", target, list)); err != nil {
				return err
			}
			res.Rows, err = insert("")
			if err != nil {
				return err
			}
			r.setKind(schema, name, "table")
			res.TableRows = res.Rows
			return nil
		}
		// Columns the query gained since the last run are added (dbt does too).
		have, err := columnNames(ctx, tx, schema, name)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, c := range have {
			seen[strings.ToLower(c)] = true
		}
		for _, c := range dataCols {
			if !seen[strings.ToLower(c)] {
				if _, err := tx.Exec(ctx, fmt.Sprintf("alter table %s add column %s %s", target, q(c), typeOf[c])); err != nil {
					return err
				}
			}
		}
		matchT := func(alias string) string { // the snapshot row t of the source row alias
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s.%s = t.%s", alias, keyCols[i], q(k))
			}
			return strings.Join(parts, " and ")
		}
		var changed string
		if timestamp {
			changed = "s.dbt_snapshot_updated_at > t.dbt_updated_at"
		} else {
			cols := checkCols(n, dataCols, keys)
			parts := make([]string, len(cols))
			for i, c := range cols {
				parts[i] = fmt.Sprintf("t.%s is distinct from s.%s", q(c), q(c))
			}
			changed = "(" + strings.Join(parts, " or ") + ")"
		}
		// 1. Close the current version of every changed row.
		if _, err := tx.Exec(ctx, fmt.Sprintf("update %s as t set dbt_valid_to = s.dbt_snapshot_updated_at from snapshot_source s where t.dbt_valid_to is null and %s and %s", target, matchT("s"), changed)); err != nil {
			return err
		}
		// 2. Hard deletes: close the current version of keys the query lost.
		var deleted int64
		if project.HardDeletes(n) == "invalidate" {
			deleted, err = tx.Exec(ctx, fmt.Sprintf("update %s as t set dbt_valid_to = %s where t.dbt_valid_to is null and not exists (select 1 from snapshot_source s where %s)", target, now, matchT("s")))
			if err != nil {
				return err
			}
		}
		// 3. A new version for every key without a current one: new keys,
		// changed rows (closed above), and keys that came back.
		added, err := insert(fmt.Sprintf("where not exists (select 1 from %s t where t.dbt_valid_to is null and %s)", target, matchT("s")))
		if err != nil {
			return err
		}
		res.Rows = added + deleted
		res.TableRows, err = count(ctx, tx, target)
		return err
	})
}

// checkCols are the columns the check strategy compares: check_cols, or
// every column of the query but the key when it is 'all'.
func checkCols(n *tandem.Node, dataCols, keys []string) []string {
	if s, ok := n.Config["check_cols"].(string); ok && strings.EqualFold(s, "all") {
		isKey := map[string]bool{}
		for _, k := range keys {
			isKey[strings.ToLower(k)] = true
		}
		var out []string
		for _, c := range dataCols {
			if !isKey[strings.ToLower(c)] {
				out = append(out, c)
			}
		}
		return out
	}
	var out []string
	switch v := n.Config["check_cols"].(type) {
	case []any:
		for _, c := range v {
			out = append(out, fmt.Sprint(c))
		}
	case string:
		out = []string{v}
	}
	return out
}

func prefixed(alias string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + c
	}
	return strings.Join(out, ", ")
}
