package tandem

import (
	"context"
	"time"
)

// Warehouse is where pipelines build tables and views. The embedded default
// is a DuckDB file (duckdb/); PostgreSQL can follow.
//
// SQL passed in is in the warehouse's dialect; callers quote identifiers with
// QuoteIdent.
type Warehouse interface {
	// Exec runs statements and returns the rows affected by the last one.
	// Values a user sent or built go in args, as parameters ($1 or ?),
	// never spliced into sql: with args, sql is one statement.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	// Query runs a query and returns at most limit rows (all when limit <= 0).
	Query(ctx context.Context, sql string, limit int, args ...any) (*Rows, error)
	// Each runs a query and calls fn for every row, without holding the
	// result in memory. cols and row are reused between calls; timestamps
	// are time.Time. An error from fn stops it and is returned.
	Each(ctx context.Context, sql string, fn func(cols []Column, row []any) error) error
	// Tx runs fn in one transaction: every statement or none is visible.
	Tx(ctx context.Context, fn func(tx Execer) error) error
	// Columns returns the columns of a relation, or an ENOTFOUND error.
	Columns(ctx context.Context, schema, name string) ([]Column, error)
	// RelationKind returns "table", "view" or "" when it does not exist.
	RelationKind(ctx context.Context, schema, name string) (string, error)
	// Relations returns every table and view, keyed "schema.name", valued
	// "table" or "view": one catalog read for a whole run.
	Relations(ctx context.Context) (map[string]string, error)
	Close() error
}

// Execer runs statements inside a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, limit int, args ...any) (*Rows, error)
}

// Rows is a materialized query result.
type Rows struct {
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// MetaStore keeps the history and state of the platform. The embedded
// default is SQLite (sqlite/).
type MetaStore interface {
	RunStore
	JobStore
	BackfillStore
	TokenStore
	SessionStore
	AuditLog
	IncidentStore
	ClockStore
	Close() error
}

// RunStore keeps runs, node results and the versions of published tables.
type RunStore interface {
	// CreateRun stores a new run; r.ID must be set.
	CreateRun(ctx context.Context, r *Run) error
	// SaveNodeResult stores or replaces the result of one node of a run.
	SaveNodeResult(ctx context.Context, runID string, res *NodeResult) error
	// UpdateRun stores the status, start and end time of a run.
	UpdateRun(ctx context.Context, r *Run) error
	// FindRun returns one run with its node results, or ENOTFOUND.
	FindRun(ctx context.Context, id string) (*Run, error)
	// LastSuccess returns when a node last finished successfully (zero if
	// never).
	LastSuccess(ctx context.Context, node string) (time.Time, error)
	// FindRuns returns the latest runs first, without node results.
	FindRuns(ctx context.Context, f RunFilter) ([]*Run, error)
	// LatestResults returns the latest result of each node (of every node
	// when nodes is nil), with its RunID, without compiled SQL.
	LatestResults(ctx context.Context, nodes []string) (map[string]*NodeResult, error)

	// AddTableVersion records a kept version of a table.
	AddTableVersion(ctx context.Context, v *TableVersion) error
	// TableVersions returns the kept versions of a node, newest first.
	TableVersions(ctx context.Context, node string) ([]*TableVersion, error)
	// DeleteTableVersion forgets a version (after its table was dropped).
	DeleteTableVersion(ctx context.Context, node string, version int) error
}

// Clock is injected wherever time matters, so tests control it.
type Clock func() time.Time

// ClockStore keeps where a project's platform clock is anchored in real
// time, so that every process of the project (tandem serve, the CLI, each
// replica) reads the same time from it, and it never runs backwards across
// restarts.
type ClockStore interface {
	// ClockAnchor returns the real time at which the platform clock read
	// start. The first call for a start records now.
	ClockAnchor(ctx context.Context, start, now time.Time) (time.Time, error)
}

// ShiftedClock is the platform clock of a project set in the past (or
// future) with `clock.start` in tandem.yaml: it read start at the real time
// anchor, and runs at normal speed from there.
func ShiftedClock(start, anchor time.Time) Clock {
	offset := start.Sub(anchor)
	return func() time.Time { return time.Now().Add(offset) }
}
