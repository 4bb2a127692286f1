package collect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/jsonw"
	"github.com/tandem-data/tandem/internal/sorted"
)

// Loader moves events from the log into the warehouse, in micro-batches,
// exactly once: the next offset to load is stored in the warehouse and
// committed in the same transaction as the rows.
//
// Tables, in schema Schema ("events"): events (every accepted event, with
// properties, traits and context as JSON), quarantine (every quarantined
// message with its violations), and one table per planned event with its
// properties as typed columns (product_viewed for "Product Viewed").
type Loader struct {
	Log       tandem.EventLog
	Warehouse tandem.Warehouse
	Plan      func() *Plan
	Schema    string
	Name      string // the offset's key; one per loader
	Batch     int    // records per transaction at most
	// Interval is the least time between two batches that are not full
	// (500ms): under load batches follow each other at once.
	Interval time.Duration
	Logger   *slog.Logger
	// OnLoad, when set, hears each committed batch (metrics, tests): the
	// next offset, the counts, and when each of its records was received.
	OnLoad func(next int64, events, quarantined int, received []time.Time)
	// OnDeadLetter, when set, hears each record set aside in the
	// dead-letter table (a metric, an alert to the owner).
	OnDeadLetter func(offset int64, reason string)
	// TempDir is where batches are staged for DuckDB's reader ("" is the
	// system's); the warehouse must be allowed to read it.
	TempDir string

	planned map[string][]column // event -> columns of its typed table
}

type column struct{ name, sqlType, prop string }

// NewLoader returns a loader into schema "events".
func NewLoader(log tandem.EventLog, w tandem.Warehouse, plan func() *Plan) *Loader {
	return &Loader{Log: log, Warehouse: w, Plan: plan, Schema: "events", Name: "warehouse", Batch: 20000, Interval: 500 * time.Millisecond, Logger: slog.Default()}
}

func q(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

var reNonWord = regexp.MustCompile(`[^a-z0-9]+`)

// TableName is the typed table of an event: "Product Viewed" -> product_viewed.
func TableName(event string) string {
	return strings.Trim(reNonWord.ReplaceAllString(strings.ToLower(event), "_"), "_")
}

var sqlTypes = map[string]string{"string": "VARCHAR", "number": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN", "object": "JSON", "array": "JSON"}

func columnType(s *Schema) string {
	var ts []string
	for _, t := range s.types() {
		if t != "null" {
			ts = append(ts, t)
		}
	}
	if len(ts) == 1 {
		return sqlTypes[ts[0]]
	}
	if len(ts) == 2 && (ts[0] == "integer" && ts[1] == "number" || ts[0] == "number" && ts[1] == "integer") {
		return "DOUBLE"
	}
	return "JSON"
}

const commonColumns = `message_id VARCHAR, "offset" BIGINT, source VARCHAR, user_id VARCHAR, anonymous_id VARCHAR,
	"timestamp" TIMESTAMPTZ, received_at TIMESTAMPTZ, sent_at TIMESTAMPTZ, context JSON`

// Prepare creates the tables, and evolves the typed ones to the plan: a new
// property adds a column; a property whose type changed is refused, with
// the event, the property and both types, before anything is loaded.
func (l *Loader) Prepare(ctx context.Context) error {
	s := q(l.Schema)
	stmts := []string{
		"create schema if not exists " + s,
		fmt.Sprintf(`create table if not exists %s._tandem_loader (name VARCHAR primary key, next_offset BIGINT not null)`, s),
		fmt.Sprintf(`create table if not exists %s.events (%s, type VARCHAR, event VARCHAR, group_id VARCHAR, previous_id VARCHAR,
			properties JSON, traits JSON)`, s, commonColumns),
		fmt.Sprintf(`create table if not exists %s.quarantine ("offset" BIGINT, received_at TIMESTAMPTZ, source VARCHAR, event VARCHAR,
			violation VARCHAR, path VARCHAR, message VARCHAR, violations JSON, raw JSON, type VARCHAR, replayed BOOLEAN default false)`, s),
		// Records the warehouse refused, as they are in the log, with why.
		fmt.Sprintf(`create table if not exists %s.dead_letter ("offset" BIGINT, failed_at TIMESTAMPTZ, error VARCHAR, record BLOB)`, s),
	}
	for _, st := range stmts {
		if _, err := l.Warehouse.Exec(ctx, st); err != nil {
			return err
		}
	}
	plan := l.Plan()
	l.planned = map[string][]column{}
	names := make([]string, 0, len(plan.Events))
	for n := range plan.Events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := plan.Events[name]
		table := TableName(name)
		var cols []column
		props := make([]string, 0, len(spec.Properties))
		for p := range spec.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		for _, p := range props {
			cols = append(cols, column{name: TableName(p), sqlType: columnType(spec.Properties[p]), prop: p})
		}
		existing, err := l.Warehouse.Columns(ctx, l.Schema, table)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			defs := []string{commonColumns}
			for _, c := range cols {
				defs = append(defs, q(c.name)+" "+c.sqlType)
			}
			if _, err := l.Warehouse.Exec(ctx, fmt.Sprintf("create table %s.%s (%s)", s, q(table), strings.Join(defs, ", "))); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else {
			have := map[string]string{}
			for _, c := range existing {
				have[c.Name] = c.Type
			}
			for _, c := range cols {
				t, ok := have[c.name]
				switch {
				case !ok:
					if _, err := l.Warehouse.Exec(ctx, fmt.Sprintf("alter table %s.%s add column %s %s", s, q(table), q(c.name), c.sqlType)); err != nil {
						return err
					}
					l.Logger.Info("tracking plan: new property, column added", "event", name, "column", c.name)
				case t != c.sqlType:
					return tandem.FileErrorf(tandem.EINVALID, spec.File, spec.Line, "event %q: property %q changed from %s to %s, which the loaded table %s.%s cannot hold; add a new property instead (or rename the event)",
						name, c.prop, t, c.sqlType, l.Schema, table)
				}
			}
		}
		l.planned[name] = cols
	}
	return nil
}

// Next returns the next offset to load.
func (l *Loader) Next(ctx context.Context) (int64, error) {
	rows, err := l.Warehouse.Query(ctx, fmt.Sprintf("select next_offset from %s._tandem_loader where name = $1", q(l.Schema)), 1, l.Name)
	if err != nil {
		return 0, err
	}
	if len(rows.Rows) == 0 {
		return 0, nil
	}
	var n int64
	fmt.Sscan(fmt.Sprint(rows.Rows[0][0]), &n)
	return n, nil
}

// Run loads until ctx is done.
func (l *Loader) Run(ctx context.Context) error {
	next, err := l.Next(ctx)
	if err != nil {
		return err
	}
	for {
		if err := l.Log.Wait(ctx, next); err != nil {
			return nil
		}
		started := time.Now()
		n, err := l.LoadOnce(ctx, next)
		if err != nil {
			l.Logger.Error("loading events failed; retrying", "offset", next, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		// A batch short of full waits out the interval: fewer, larger
		// transactions, whose commits compete less with the log's fsyncs.
		if n-next < int64(l.Batch) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(started.Add(l.Interval))):
			}
		}
		next = n
	}
}

// appendNullable appends `,"name":"s"` to a staged NDJSON line, null when
// s is empty (appendField, for log records, leaves the field out instead).
func appendNullable(b []byte, name string, s []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	if len(s) == 0 {
		return append(b, "null"...)
	}
	return jsonw.AppendString(b, s)
}

// eventKey says which typed table, if any, a loaded event also goes to.
type eventKey struct{ Type, Event string }

// appendRow appends one line of the loader's NDJSON (the columns of
// events.events) for an accepted event's record. The object fields are
// copied as they are; only timestamps are reformatted for DuckDB.
func appendRow(b []byte, offset int64, received time.Time, env *fastjson.Value) ([]byte, eventKey, error) {
	ev := env.Get("event")
	if ev == nil || ev.Type() != fastjson.TypeObject {
		return b, eventKey{}, errors.New("an event record without its event")
	}
	ts, err := time.Parse(time.RFC3339Nano, string(ev.GetStringBytes("timestamp")))
	if err != nil {
		return b, eventKey{}, fmt.Errorf("timestamp: %v", err)
	}
	key := eventKey{Type: string(ev.GetStringBytes("type")), Event: string(ev.GetStringBytes("event"))}
	opt := func(name string, s []byte) { b = appendNullable(b, name, s) }
	obj := func(name string) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if o := ev.Get(name); o != nil && o.Type() == fastjson.TypeObject {
			b = jsonw.AppendValue(b, o)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `{"message_id":`...)
	b = jsonw.AppendString(b, ev.GetStringBytes("message_id"))
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	opt("source", env.GetStringBytes("source"))
	opt("user_id", ev.GetStringBytes("user_id"))
	opt("anonymous_id", ev.GetStringBytes("anonymous_id"))
	b = append(b, `,"timestamp":"`...)
	b = ts.UTC().AppendFormat(b, tsFormat)
	b = append(b, `","received_at":"`...)
	b = received.UTC().AppendFormat(b, tsFormat)
	b = append(b, '"')
	if s := ev.GetStringBytes("sent_at"); len(s) > 0 {
		sent, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return b, eventKey{}, fmt.Errorf("sent_at: %v", err)
		}
		b = append(b, `,"sent_at":"`...)
		b = sent.UTC().AppendFormat(b, tsFormat)
		b = append(b, '"')
	} else {
		b = append(b, `,"sent_at":null`...)
	}
	obj("context")
	opt("type", []byte(key.Type))
	opt("event", []byte(key.Event))
	opt("group_id", ev.GetStringBytes("group_id"))
	opt("previous_id", ev.GetStringBytes("previous_id"))
	obj("properties")
	obj("traits")
	return append(b, '}', '\n'), key, nil
}

const tsFormat = "2006-01-02T15:04:05.999999Z"

// LoadOnce loads one batch from next and returns the new next offset.
//
// No record can stop the loader: a batch the warehouse refuses for what is
// in it (not for the disk or a crash, which are retried) is split in halves
// until the record at fault is alone, and that record goes to the
// dead-letter table with the database's error and its offset; the rest is
// loaded, and the offset moves on.
func (l *Loader) LoadOnce(ctx context.Context, next int64) (int64, error) {
	recs, err := l.Log.Read(ctx, next, l.Batch)
	if err != nil || len(recs) == 0 {
		return next, err
	}
	if err := l.load(ctx, recs); err != nil {
		return next, err
	}
	return recs[len(recs)-1].Offset + 1, nil
}

func (l *Loader) load(ctx context.Context, recs []tandem.Record) error {
	err := l.commit(ctx, recs, nil)
	if err == nil || !isDataError(err) {
		return err
	}
	if len(recs) == 1 {
		l.Logger.Error("the warehouse refused an event log record; it is kept in the dead-letter table", "offset", recs[0].Offset,
			"table", l.Schema+".dead_letter", "err", err)
		return l.commit(ctx, nil, &deadLetter{rec: recs[0], err: err.Error()})
	}
	half := len(recs) / 2
	if err := l.load(ctx, recs[:half]); err != nil {
		return err
	}
	return l.load(ctx, recs[half:])
}

// deadLetter is a record the loader could not load, and why.
type deadLetter struct {
	rec tandem.Record
	err string
}

// isDataError reports whether the warehouse refused a statement for the
// data in it (DuckDB's conversion, parser, binder, constraint and range
// errors), which another try will not mend. I/O, memory, conflicts and a
// crash are not: the batch is retried whole.
func isDataError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"Conversion Error", "Invalid Input Error", "Parser Error", "Binder Error", "Constraint Error",
		"Out of Range Error", "Type Error", "Invalid type Error", "Not implemented Error", "Catalog Error", "could not bind parameter"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ndjson is a temporary newline-delimited JSON file that DuckDB's reader
// loads: the batch never reaches SQL as text (SQL text with a literal per
// value was also 15 times slower).
type ndjson struct {
	f *os.File
	w *bufio.Writer
	n int
}

func (l *Loader) newNDJSON() (*ndjson, error) {
	f, err := os.CreateTemp(l.TempDir, "tandem-load-*.ndjson")
	if err != nil {
		return nil, err
	}
	return &ndjson{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (j *ndjson) write(line []byte) error {
	j.n++
	if _, err := j.w.Write(line); err != nil {
		return fmt.Errorf("%w %s: %v", errWrite, j.f.Name(), err)
	}
	return nil
}

func (j *ndjson) close() error {
	if err := j.w.Flush(); err != nil {
		j.f.Close()
		return err
	}
	return j.f.Close()
}

func (j *ndjson) remove() { os.Remove(j.f.Name()) }

// commit loads recs, or only the dead letter dl, and the next offset, in
// one transaction.
func (l *Loader) commit(ctx context.Context, recs []tandem.Record, dl *deadLetter) error {
	evf, err := l.newNDJSON()
	if err != nil {
		return err
	}
	defer evf.remove()
	qf, err := l.newNDJSON()
	if err != nil {
		evf.close()
		return err
	}
	defer qf.remove()
	var dead []*deadLetter
	if dl != nil {
		dead = append(dead, dl)
	}
	planned := map[string]bool{}
	receivedAll := make([]time.Time, 0, len(recs))
	var p fastjson.Parser
	var line []byte
	for _, r := range recs {
		v, err := p.ParseBytes(r.Data)
		var received time.Time
		if err == nil {
			received, err = time.Parse(time.RFC3339Nano, string(v.GetStringBytes("received_at")))
		}
		if err == nil && string(v.GetStringBytes("kind")) == "quarantine" {
			line, err = appendQuarantineRow(line[:0], r.Offset, received, v)
			if err == nil {
				err = qf.write(line)
			}
		} else if err == nil {
			var ev eventKey
			line, ev, err = appendRow(line[:0], r.Offset, received, v)
			if err == nil {
				if err = evf.write(line); err == nil {
					if _, ok := l.planned[ev.Event]; ok && ev.Type == "track" {
						planned[ev.Event] = true
					}
				}
			}
		}
		if err != nil {
			if errors.Is(err, errWrite) {
				evf.close()
				qf.close()
				return err
			}
			l.Logger.Error("unreadable record in the event log; kept in the dead-letter table", "offset", r.Offset, "err", err)
			dead = append(dead, &deadLetter{rec: r, err: "unreadable record: " + err.Error()})
			continue
		}
		receivedAll = append(receivedAll, received)
	}
	if err := evf.close(); err != nil {
		qf.close()
		return err
	}
	if err := qf.close(); err != nil {
		return err
	}
	var last int64
	if dl != nil {
		last = dl.rec.Offset + 1
	} else {
		last = recs[len(recs)-1].Offset + 1
	}
	s := q(l.Schema)
	err = l.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		// The batch goes to a temporary table first: the typed tables read
		// it there, not out of events, which grows (a scan of it made each
		// batch slower than the one before).
		const all = `message_id, "offset", source, user_id, anonymous_id, "timestamp", received_at, sent_at, context, type, event, group_id, previous_id, properties, traits`
		if evf.n > 0 {
			if _, err := tx.Exec(ctx, `create or replace temp table _tandem_load as
				select message_id, "offset", source, user_id, anonymous_id, "timestamp"::TIMESTAMPTZ as "timestamp",
				       received_at::TIMESTAMPTZ as received_at, sent_at::TIMESTAMPTZ as sent_at, context, type, event, group_id, previous_id, properties, traits
				from read_json($1, format = 'newline_delimited', columns = {message_id: 'VARCHAR', "offset": 'BIGINT', source: 'VARCHAR',
				     user_id: 'VARCHAR', anonymous_id: 'VARCHAR', "timestamp": 'VARCHAR', received_at: 'VARCHAR', sent_at: 'VARCHAR',
				     context: 'JSON', type: 'VARCHAR', event: 'VARCHAR', group_id: 'VARCHAR', previous_id: 'VARCHAR',
				     properties: 'JSON', traits: 'JSON'})`, evf.f.Name()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s.events (%s) select %s from _tandem_load`, s, all, all)); err != nil {
				return err
			}
		}
		for _, event := range sorted.Keys(planned) {
			// Columns by name: evolution appends new ones at the end.
			common := `message_id, "offset", source, user_id, anonymous_id, "timestamp", received_at, sent_at, context`
			cols, sel := []string{common}, []string{common}
			args := []any{event}
			for _, c := range l.planned[event] {
				cols = append(cols, q(c.name))
				args = append(args, `$."`+strings.ReplaceAll(c.prop, `"`, `\"`)+`"`)
				sel = append(sel, typedValue(c, len(args)))
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s.%s (%s) select %s from _tandem_load where type = 'track' and event = $1`,
				s, q(TableName(event)), strings.Join(cols, ", "), strings.Join(sel, ", ")), args...); err != nil {
				return err
			}
		}
		if evf.n > 0 {
			if _, err := tx.Exec(ctx, `drop table _tandem_load`); err != nil {
				return err
			}
		}
		if qf.n > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s.quarantine ("offset", received_at, source, event, violation, path, message, violations, raw, type, replayed)
				select "offset", received_at::TIMESTAMPTZ, source, event, violation, path, message, violations, raw, type, false
				from read_json($1, format = 'newline_delimited', columns = {"offset": 'BIGINT', received_at: 'VARCHAR', source: 'VARCHAR',
				     event: 'VARCHAR', violation: 'VARCHAR', path: 'VARCHAR', message: 'VARCHAR', violations: 'JSON', raw: 'JSON', type: 'VARCHAR'})`, s),
				qf.f.Name()); err != nil {
				return err
			}
		}
		for _, d := range dead {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s.dead_letter ("offset", failed_at, error, record) values ($1, $2, $3, $4)`, s),
				d.rec.Offset, time.Now().UTC(), d.err, d.rec.Data); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s._tandem_loader values ($1, $2) on conflict (name) do update set next_offset = excluded.next_offset`, s), l.Name, last)
		return err
	})
	if err != nil {
		return err
	}
	if l.OnDeadLetter != nil {
		for _, d := range dead {
			l.OnDeadLetter(d.rec.Offset, d.err)
		}
	}
	if l.OnLoad != nil {
		l.OnLoad(last, evf.n, qf.n, receivedAll)
	}
	return nil
}

// errWrite is a staging file that could not be written: not the record's fault.
var errWrite = errors.New("write")

// typedValue reads one planned property out of the JSON properties; its
// JSON path is parameter $n. The plan validated the value; try_cast keeps a
// surprise from failing a batch.
func typedValue(c column, n int) string {
	path := fmt.Sprintf("$%d", n)
	switch c.sqlType {
	case "JSON":
		return fmt.Sprintf("json_extract(properties, %s)", path)
	case "VARCHAR":
		return fmt.Sprintf("json_extract_string(properties, %s)", path)
	}
	return fmt.Sprintf("try_cast(json_extract_string(properties, %s) as %s)", path, c.sqlType)
}

// appendQuarantineRow appends one line of the quarantine's NDJSON for a
// quarantined record.
func appendQuarantineRow(b []byte, offset int64, received time.Time, env *fastjson.Value) ([]byte, error) {
	vs := env.Get("violations")
	if vs == nil || vs.Type() != fastjson.TypeArray || len(vs.GetArray()) == 0 {
		return b, errors.New("a quarantine record without its violations")
	}
	first := vs.GetArray()[0]
	ev := env.Get("event")
	str := func(name string, s []byte) { b = appendNullable(b, name, s) }
	b = append(b, `{"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, `,"received_at":"`...)
	b = received.UTC().AppendFormat(b, tsFormat)
	b = append(b, '"')
	str("source", env.GetStringBytes("source"))
	var event, typ []byte
	if ev != nil {
		event, typ = ev.GetStringBytes("event"), ev.GetStringBytes("type")
	}
	str("event", event)
	str("violation", first.GetStringBytes("type"))
	b = append(b, `,"path":`...)
	b = jsonw.AppendString(b, first.GetStringBytes("path"))
	b = append(b, `,"message":`...)
	b = jsonw.AppendString(b, first.GetStringBytes("message"))
	b = append(b, `,"violations":`...)
	b = jsonw.AppendValue(b, vs)
	b = append(b, `,"raw":`...)
	if raw := env.Get("raw"); raw != nil {
		b = jsonw.AppendValue(b, raw)
	} else {
		b = append(b, "null"...)
	}
	str("type", typ)
	return append(b, '}', '\n'), nil
}
