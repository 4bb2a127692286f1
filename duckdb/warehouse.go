// Package duckdb is the embedded Warehouse: a DuckDB file. It is the only
// package that imports the DuckDB driver (and so the only one needing cgo).
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	duck "github.com/duckdb/duckdb-go/v2"

	"github.com/tandem-data/tandem"
)

var _ tandem.Warehouse = (*Warehouse)(nil)

// Warehouse is a DuckDB database file.
type Warehouse struct {
	db   *sql.DB
	Path string
}

// Options tune how the file is opened.
type Options struct {
	// SearchPath is where relative file paths in SQL (read_csv('data/x.csv'))
	// are found: the project directory.
	SearchPath string
	// Settings are applied with SET on open (threads, memory_limit, ...).
	Settings map[string]any
	// Sandbox, when set, confines every statement to its directories (see
	// Sandbox): no other file is read or written, no extension installed
	// or loaded, no database attached, and no setting changed after open.
	Sandbox *Sandbox
}

// Sandbox is DuckDB's own confinement, set once at open and then locked:
// enable_external_access off, allowed_directories, no extension
// autoloading, lock_configuration. DuckDB checks a relative path as
// written, and looks it up in the process's working directory, so the
// caller runs in the project directory and lists its top-level folders
// as relative entries ("data/") too.
type Sandbox struct {
	Dirs []string
}

var reLockPID = regexp.MustCompile(`\(PID (\d+)\)`)

// Open opens or creates the DuckDB file at path. If another process holds
// it, the error is EUNAVAILABLE and says which process.
func Open(path string, opts Options) (*Warehouse, error) {
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
	}
	dsn := path
	if path == ":memory:" {
		dsn = ""
	}
	// Per-connection settings (file_search_path cannot be global) run on
	// every connection the pool opens.
	var init, global []string
	if opts.SearchPath != "" && opts.Sandbox == nil {
		init = append(init, "SET file_search_path = "+Literal(opts.SearchPath))
	}
	for k, v := range opts.Settings {
		init = append(init, fmt.Sprintf("SET %s = %s", k, Literal(fmt.Sprint(v))))
	}
	if opts.Sandbox != nil {
		// A locked configuration refuses SET on the connections the pool
		// opens later: the settings go once, globally, before the lock.
		for _, st := range init {
			global = append(global, strings.Replace(st, "SET ", "SET GLOBAL ", 1))
		}
		init = nil
		dirs := make([]string, 0, len(opts.Sandbox.Dirs))
		for _, d := range opts.Sandbox.Dirs {
			dirs = append(dirs, Literal(d))
		}
		global = append(global, "SET GLOBAL allowed_directories = ["+strings.Join(dirs, ", ")+"]",
			"SET GLOBAL autoinstall_known_extensions = false", "SET GLOBAL autoload_known_extensions = false",
			"SET GLOBAL enable_external_access = false", "SET GLOBAL lock_configuration = true")
	}
	connector, err := duck.NewConnector(dsn, func(ex driver.ExecerContext) error {
		for _, stmt := range init {
			if _, err := ex.ExecContext(context.Background(), stmt, nil); err != nil {
				return tandem.Errorf(tandem.EINVALID, "DuckDB setting (%s): %v", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(connector)
	w := &Warehouse{db: db, Path: path}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	if path != ":memory:" {
		// Not readable by other local users, whatever the umask.
		for _, f := range []string{path, path + ".wal"} {
			if err := os.Chmod(f, 0o600); err != nil && !os.IsNotExist(err) {
				db.Close()
				return nil, tandem.Errorf(tandem.EUNAVAILABLE, "warehouse %s: %v", f, err)
			}
		}
	}
	for _, st := range global {
		if _, err := db.Exec(st); err != nil {
			db.Close()
			return nil, tandem.Errorf(tandem.EINVALID, "DuckDB setting (%s): %v", st, err)
		}
	}
	return w, nil
}

func openError(path string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "Could not set lock") || strings.Contains(msg, "Conflicting lock") {
		who := "another process"
		if m := reLockPID.FindStringSubmatch(msg); m != nil {
			who = "process " + m[1]
		}
		return tandem.Errorf(tandem.EUNAVAILABLE, "the warehouse %s is open in %s (a running `tandem serve`?); DuckDB allows one writer per file: stop it, or send the command through its API", path, who)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "open warehouse %s: %v", path, err)
}

// Close closes the database; DuckDB checkpoints the WAL into the file.
func (w *Warehouse) Close() error { return w.db.Close() }

// Exec runs one or more statements.
func (w *Warehouse) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := w.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, sqlError(err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Tx runs fn in one transaction on one connection.
func (w *Warehouse) Tx(ctx context.Context, fn func(tandem.Execer) error) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return sqlError(err)
	}
	if err := fn(txExecer{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return sqlError(err)
	}
	return nil
}

type txExecer struct{ tx *sql.Tx }

func (t txExecer) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, sqlError(err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// sqlError keeps DuckDB's message, which names the problem well, and drops
// the Go driver's wrapping.
func sqlError(err error) error {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return &SQLError{Msg: strings.TrimSpace(err.Error())}
}

// SQLError is an error DuckDB reported for a statement.
type SQLError struct{ Msg string }

func (e *SQLError) Error() string { return e.Msg }

// Transient reports whether retrying may help (DuckDB's transaction
// conflicts and I/O errors); a syntax or binder error will not go away.
func (e *SQLError) Transient() bool {
	for _, s := range []string{"Transaction conflict", "Conflict on", "write-write conflict", "Could not set lock", "database is locked"} {
		if strings.Contains(e.Msg, s) {
			return true
		}
	}
	return false
}

// Query runs q and returns up to limit rows.
func (w *Warehouse) Query(ctx context.Context, q string, limit int, args ...any) (*tandem.Rows, error) {
	return query(ctx, w.db, q, limit, args...)
}

func (t txExecer) Query(ctx context.Context, q string, limit int, args ...any) (*tandem.Rows, error) {
	return query(ctx, t.tx, q, limit, args...)
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func query(ctx context.Context, db queryer, q string, limit int, args ...any) (*tandem.Rows, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, sqlError(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, sqlError(err)
	}
	out := &tandem.Rows{Rows: [][]any{}}
	for _, t := range types {
		out.Columns = append(out.Columns, tandem.Column{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	for rows.Next() {
		if limit > 0 && len(out.Rows) >= limit {
			break
		}
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, sqlError(err)
		}
		for i, v := range vals {
			vals[i] = plain(v)
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, sqlError(err)
	}
	return out, nil
}

// plain turns driver values into types that print and encode as JSON well.
func plain(v any) any {
	switch t := v.(type) {
	case nil, bool, string, int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, float64, float32:
		return t
	case []byte:
		return string(t)
	case time.Time:
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
			return t.Format("2006-01-02")
		}
		return t.Format("2006-01-02 15:04:05.999999")
	case duck.Decimal:
		// Exact digits, not a float: money must print as it is stored.
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.Scale)), nil)
		return json.Number(new(big.Rat).SetFrac(t.Value, den).FloatString(int(t.Scale)))
	case *big.Int: // HUGEINT: sums of BIGINT
		return json.Number(t.String())
	case duck.UUID:
		return t.String()
	case duck.Interval:
		return fmt.Sprintf("%d months %d days %d us", t.Months, t.Days, t.Micros)
	case []any:
		for i := range t {
			t[i] = plain(t[i])
		}
		return t
	case map[string]any:
		for k := range t {
			t[k] = plain(t[k])
		}
		return t
	}
	return fmt.Sprint(v)
}

// Columns returns the columns of schema.name. pragma_table_info reads one
// catalog entry; information_schema.columns scans them all (15x slower).
func (w *Warehouse) Columns(ctx context.Context, schema, name string) ([]tandem.Column, error) {
	rows, err := w.db.QueryContext(ctx, "select name, type from pragma_table_info(?)", QuoteIdent(schema)+"."+QuoteIdent(name))
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "relation %s.%s does not exist", schema, name)
		}
		return nil, sqlError(err)
	}
	defer rows.Close()
	var cols []tandem.Column
	for rows.Next() {
		var c tandem.Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "relation %s.%s does not exist", schema, name)
	}
	return cols, rows.Err()
}

// Relations lists every table and view.
func (w *Warehouse) Relations(ctx context.Context) (map[string]string, error) {
	rows, err := w.db.QueryContext(ctx, `select schema_name, table_name, 'table' from duckdb_tables() where not temporary
		union all select schema_name, view_name, 'view' from duckdb_views() where not internal and not temporary`)
	if err != nil {
		return nil, sqlError(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var schema, name, kind string
		if err := rows.Scan(&schema, &name, &kind); err != nil {
			return nil, err
		}
		out[schema+"."+name] = kind
	}
	return out, rows.Err()
}

// QuoteIdent quotes an identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// RelationKind returns "table", "view" or "".
func (w *Warehouse) RelationKind(ctx context.Context, schema, name string) (string, error) {
	var typ string
	err := w.db.QueryRowContext(ctx, `select table_type from information_schema.tables
		where table_schema = ? and table_name = ?`, schema, name).Scan(&typ)
	if err == sql.ErrNoRows {
		return "", nil
	} else if err != nil {
		return "", sqlError(err)
	}
	if typ == "VIEW" {
		return "view", nil
	}
	return "table", nil
}

// Literal quotes s as an SQL string literal.
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Each implements tandem.Warehouse.
func (w *Warehouse) Each(ctx context.Context, q string, fn func(cols []tandem.Column, row []any) error) error {
	rows, err := w.db.QueryContext(ctx, q)
	if err != nil {
		return sqlError(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return sqlError(err)
	}
	cols := make([]tandem.Column, len(types))
	for i, t := range types {
		cols[i] = tandem.Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return sqlError(err)
		}
		for i, v := range vals {
			if _, ok := v.(time.Time); !ok {
				vals[i] = plain(v)
			}
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return sqlError(err)
	}
	return nil
}
