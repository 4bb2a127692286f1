// Package sqlite is the embedded MetaStore: run history and table versions
// in one SQLite file (pure Go driver, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"

	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tandem-data/tandem"
)

var _ tandem.MetaStore = (*MetaStore)(nil)

//go:embed schema.sql
var schema string

// MetaStore is a SQLite database file.
type MetaStore struct {
	db *sql.DB
}

// Open opens or creates the store at path and applies the schema.
func Open(path string) (*MetaStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// WAL lets readers (tandem runs) work while a build writes; busy_timeout
	// waits for a concurrent writer instead of failing.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "open metadata store %s: %v", path, err)
	}
	// Tokens' hashes and the audit: not readable by other local users.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(f, 0o600)
	}
	// Columns added after the first release of the schema.
	for _, col := range []string{"runs add column job text not null default ''", "runs add column scheduled_for text",
		"runs add column trigger_ text not null default ''", "runs add column process text not null default ''",
		"runs add column reason text not null default ''", "node_results add column table_rows integer not null default 0"} {
		if _, err := db.Exec("alter table " + col); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, tandem.Errorf(tandem.EUNAVAILABLE, "migrate metadata store %s: %v", path, err)
		}
	}
	return &MetaStore{db: db}, nil
}

func (s *MetaStore) Close() error { return s.db.Close() }

// timeFormat is fixed-width, so comparing and ordering the text in SQL is
// comparing and ordering the times (RFC 3339 with trimmed zeros is not).
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

func parseTS(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s.String)
	return t
}

func (s *MetaStore) CreateRun(ctx context.Context, r *tandem.Run) error {
	_, err := s.db.ExecContext(ctx, `insert into runs (id, command, args, started_by, status, started_at, job, scheduled_for, trigger_, process, reason)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Command, r.Args, r.StartedBy, string(r.Status), ts(r.StartedAt), r.Job, ts(r.ScheduledFor), r.Trigger, r.Process, r.Reason)
	return err
}

func (s *MetaStore) SaveNodeResult(ctx context.Context, runID string, n *tandem.NodeResult) error {
	_, err := s.db.ExecContext(ctx, `insert into node_results (run_id, node, kind, status, started_at, duration_ns, rows, table_rows, attempts, message, compiled_sql)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		on conflict (run_id, node) do update set status = excluded.status, started_at = excluded.started_at,
		duration_ns = excluded.duration_ns, rows = excluded.rows, table_rows = excluded.table_rows, attempts = excluded.attempts,
		message = excluded.message, compiled_sql = excluded.compiled_sql`,
		runID, n.Node, string(n.Kind), string(n.Status), ts(n.StartedAt), int64(n.Duration), n.Rows, n.TableRows, n.Attempts, n.Message, n.CompiledSQL)
	return err
}

func (s *MetaStore) UpdateRun(ctx context.Context, r *tandem.Run) error {
	res, err := s.db.ExecContext(ctx, `update runs set status = ?, started_at = coalesce(?, started_at), ended_at = ?,
		process = case when ? = '' then process else ? end, reason = ? where id = ?`,
		string(r.Status), ts(r.StartedAt), ts(r.EndedAt), r.Process, r.Process, r.Reason, r.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "run %s not found", r.ID)
	}
	return nil
}

func (s *MetaStore) FindRun(ctx context.Context, id string) (*tandem.Run, error) {
	runs, err := s.findRuns(ctx, `where id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "run %s not found; list runs with `tandem runs`", id)
	}
	r := runs[0]
	rows, err := s.db.QueryContext(ctx, `select node, kind, status, started_at, duration_ns, rows, table_rows, attempts, message, compiled_sql
		from node_results where run_id = ? order by seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n tandem.NodeResult
		if err := scanResult(rows, &n, &n.CompiledSQL); err != nil {
			return nil, err
		}
		r.Nodes = append(r.Nodes, &n)
	}
	return r, rows.Err()
}

// scanResult reads a node result's columns (node, kind, status,
// started_at, duration_ns, rows, table_rows, attempts, message) and one more
// into extra.
func scanResult(rows *sql.Rows, n *tandem.NodeResult, extra *string) error {
	var kind, status string
	var started sql.NullString
	var dur int64
	if err := rows.Scan(&n.Node, &kind, &status, &started, &dur, &n.Rows, &n.TableRows, &n.Attempts, &n.Message, extra); err != nil {
		return err
	}
	n.Kind, n.Status, n.StartedAt, n.Duration = tandem.NodeKind(kind), tandem.Status(status), parseTS(started), time.Duration(dur)
	return nil
}

func (s *MetaStore) LatestResults(ctx context.Context, nodes []string) (map[string]*tandem.NodeResult, error) {
	out := map[string]*tandem.NodeResult{}
	if nodes != nil && len(nodes) == 0 {
		return out, nil
	}
	inner, args := `select max(seq) from node_results group by node`, []any{}
	if nodes != nil {
		inner = `select max(seq) from node_results where node in (?` + strings.Repeat(`, ?`, len(nodes)-1) + `) group by node`
		for _, n := range nodes {
			args = append(args, n)
		}
	}
	rows, err := s.db.QueryContext(ctx, `select node, kind, status, started_at, duration_ns, rows, table_rows, attempts, message, run_id
		from node_results where seq in (`+inner+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n tandem.NodeResult
		if err := scanResult(rows, &n, &n.RunID); err != nil {
			return nil, err
		}
		out[n.Node] = &n
	}
	return out, rows.Err()
}

func (s *MetaStore) LastSuccess(ctx context.Context, node string) (time.Time, error) {
	var started sql.NullString
	var dur sql.NullInt64
	err := s.db.QueryRowContext(ctx, `select started_at, duration_ns from node_results
		where node = ? and status = 'success' order by started_at desc limit 1`, node).Scan(&started, &dur)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, err
	}
	return parseTS(started).Add(time.Duration(dur.Int64)), nil
}

func (s *MetaStore) FindRuns(ctx context.Context, f tandem.RunFilter) ([]*tandem.Run, error) {
	if f.Limit <= 0 {
		f.Limit = 20
	}
	where, args := "where 1 = 1", []any{}
	if f.Job != "" {
		where += " and job = ?"
		args = append(args, f.Job)
	}
	if len(f.Statuses) > 0 {
		where += " and status in (" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Statuses)), ", ") + ")"
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	return s.findRuns(ctx, where+` order by started_at desc, rowid desc limit ?`, append(args, f.Limit)...)
}

func (s *MetaStore) findRuns(ctx context.Context, tail string, args ...any) ([]*tandem.Run, error) {
	rows, err := s.db.QueryContext(ctx, `select id, command, args, started_by, status, started_at, ended_at, job, scheduled_for, trigger_, process, reason from runs `+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.Run
	for rows.Next() {
		var r tandem.Run
		var status string
		var started, ended, scheduled sql.NullString
		if err := rows.Scan(&r.ID, &r.Command, &r.Args, &r.StartedBy, &status, &started, &ended, &r.Job, &scheduled, &r.Trigger, &r.Process, &r.Reason); err != nil {
			return nil, err
		}
		r.Status, r.StartedAt, r.EndedAt, r.ScheduledFor = tandem.Status(status), parseTS(started), parseTS(ended), parseTS(scheduled)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s *MetaStore) AddTableVersion(ctx context.Context, v *tandem.TableVersion) error {
	_, err := s.db.ExecContext(ctx, `insert into table_versions (node, relation, version, stored, run_id, created_at, rows) values (?, ?, ?, ?, ?, ?, ?)`,
		v.Node, v.Relation, v.Version, v.Stored, v.RunID, ts(v.CreatedAt), v.Rows)
	return err
}

func (s *MetaStore) TableVersions(ctx context.Context, node string) ([]*tandem.TableVersion, error) {
	rows, err := s.db.QueryContext(ctx, `select node, relation, version, stored, run_id, created_at, rows from table_versions
		where node = ? order by version desc`, node)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.TableVersion
	for rows.Next() {
		var v tandem.TableVersion
		var created sql.NullString
		if err := rows.Scan(&v.Node, &v.Relation, &v.Version, &v.Stored, &v.RunID, &created, &v.Rows); err != nil {
			return nil, err
		}
		v.CreatedAt = parseTS(created)
		out = append(out, &v)
	}
	return out, rows.Err()
}

func (s *MetaStore) DeleteTableVersion(ctx context.Context, node string, version int) error {
	res, err := s.db.ExecContext(ctx, `delete from table_versions where node = ? and version = ?`, node, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "version %d of %s not found", version, node)
	}
	return nil
}
