package feature

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
)

func openWarehouse(t *testing.T) *duckdb.Warehouse {
	t.Helper()
	w, err := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func exec(t *testing.T, w tandem.Warehouse, sql string) {
	t.Helper()
	if _, err := w.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

// view returns a batch view over table t of the test warehouse.
func view(name, table string, ttl time.Duration, created bool, feats ...string) *View {
	v := &View{Name: name, Keys: []string{"customer_id"}, Relation: `"main".` + q(table), Timestamp: "ts", TTL: ttl}
	if created {
		v.Created = "created"
	}
	for _, f := range feats {
		v.Features = append(v.Features, Feature{Name: f, Type: "int64"})
	}
	return v
}

func rowsText(rows *tandem.Rows) []string {
	var out []string
	for _, r := range rows.Rows {
		var cells []string
		for _, c := range r {
			if c == nil {
				cells = append(cells, "NULL")
			} else if t, err := time.Parse("2006-01-02 15:04:05.999999", fmt.Sprint(c)); err == nil {
				cells = append(cells, t.Format("01-02 15:04"))
			} else {
				cells = append(cells, fmt.Sprint(c))
			}
		}
		out = append(out, strings.Join(cells, " "))
	}
	return out
}

// TestPointInTimeSemantics encodes the training set rules case by case.
func TestPointInTimeSemantics(t *testing.T) {
	w := openWarehouse(t)
	ctx := context.Background()
	exec(t, w, `create table stats (customer_id INTEGER, ts TIMESTAMP, created TIMESTAMP, x INTEGER)`)
	exec(t, w, `insert into stats values
		(1, '2011-06-01 10:00', '2011-06-01 10:00', 10),
		(1, '2011-06-01 12:00', '2011-06-01 12:00', 11),
		(1, '2011-06-01 12:00', '2011-06-01 13:00', 12),  -- same event time, created later: wins the tie
		(2, '2011-06-01 09:00', '2011-06-01 09:00', 20),
		(2, '2011-06-01 11:00', '2011-06-01 15:00', 21),  -- created after some entity times
		(3, '2011-05-01 00:00', '2011-05-01 00:00', 30)`)
	exec(t, w, `create table orders (customer_id INTEGER, ts TIMESTAMP, n INTEGER)`)
	exec(t, w, `insert into orders values (1, '2011-05-31 12:00', 100), (2, '2011-06-01 11:59', 200)`)
	reg := &Registry{Views: map[string]*View{
		"stats":       view("stats", "stats", 2*time.Hour, true, "x"),
		"orders":      view("orders", "orders", 0, false, "n"),
		"orders_1d":   view("orders_1d", "orders", 24*time.Hour, false, "n"),
		"stats_nottl": view("stats_nottl", "stats", 0, true, "x"),
	}}
	s := &Store{Registry: reg, Warehouse: w}
	// Entity rows out of time order, with a duplicate and an unknown customer.
	exec(t, w, `create table ent (customer_id INTEGER, event_timestamp TIMESTAMP, label INTEGER)`)
	exec(t, w, `insert into ent values
		(1, '2011-06-01 12:00', 1),   -- exactly at an event time: included
		(1, '2011-06-01 11:59', 2),   -- before it: the 10:00 row
		(1, '2011-06-01 14:00', 3),   -- 12:00 is exactly 2h old: ttl bound is inclusive
		(1, '2011-06-01 14:00:00.000001', 4), -- a microsecond past the ttl: NULL
		(2, '2011-06-01 12:00', 5),   -- the 11:00 row (created 15:00, but no --filter-created)
		(9, '2011-06-01 12:00', 6),   -- no such customer: NULL, row kept
		(1, '2011-06-01 12:00', 1),   -- a duplicate row: kept, in place
		(3, '2011-06-01 12:00', 8)    -- a month-old row: outside the ttl, inside no-ttl`)
	run := func(req *HistoricalRequest) []string {
		t.Helper()
		req.EntitiesSQL = "select * from ent"
		_, rows, err := s.Historical(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return rowsText(rows)
	}
	refs, _ := reg.ParseRefs([]string{"stats:x,stats_nottl:x"})
	if _, _, err := s.Historical(ctx, &HistoricalRequest{Refs: refs, EntitiesSQL: "select * from ent"}); err == nil ||
		!strings.Contains(err.Error(), `two columns would be called "x" (view stats and view stats_nottl); use --full-feature-names`) {
		t.Fatalf("x twice without full names: %v", err)
	}
	refs, _ = reg.ParseRefs([]string{"stats:x", "orders_1d:n"})
	got := run(&HistoricalRequest{Refs: refs})
	want := []string{
		"1 06-01 12:00 1 12 100",
		"1 06-01 11:59 2 10 100",
		"1 06-01 14:00 3 12 NULL", // orders_1d: 2011-05-31 12:00 is 26h old
		"1 06-01 14:00 4 NULL NULL",
		"2 06-01 12:00 5 21 200",
		"9 06-01 12:00 6 NULL NULL",
		"1 06-01 12:00 1 12 100",
		"3 06-01 12:00 8 NULL NULL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("training set:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// --filter-created: the 11:00 row of customer 2, created at 15:00, is not
	// a candidate at 12:00 (and the 09:00 one is beyond the ttl). Ties:
	// customer 1 at 12:00 sees the 12:00 row created at 12:00 only (the
	// other was created at 13:00).
	refs, _ = reg.ParseRefs([]string{"stats:x"})
	got = run(&HistoricalRequest{Refs: refs, FilterCreated: true})
	want = []string{"1 06-01 12:00 1 11", "1 06-01 11:59 2 10", "1 06-01 14:00 3 12", "1 06-01 14:00 4 NULL", "2 06-01 12:00 5 NULL", "9 06-01 12:00 6 NULL", "1 06-01 12:00 1 11", "3 06-01 12:00 8 NULL"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("--filter-created:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// ttl 0 is no lower bound; full feature names prefix the view.
	refs, _ = reg.ParseRefs([]string{"stats:x,stats_nottl:x,orders:n"})
	req := &HistoricalRequest{Refs: refs, FullFeatureNames: true, EntitiesSQL: "select * from ent"}
	_, rows, err := s.Historical(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range rows.Columns {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != "customer_id,event_timestamp,label,stats__x,stats_nottl__x,orders__n" {
		t.Errorf("columns: %v", cols)
	}
	if got := rowsText(rows); got[3] != "1 06-01 14:00 4 NULL 12 100" || got[7] != "3 06-01 12:00 8 NULL 30 NULL" {
		t.Errorf("ttl 0 (no lower bound): %v", got)
	}
}

func TestHistoricalBadInput(t *testing.T) {
	w := openWarehouse(t)
	exec(t, w, `create table stats (customer_id INTEGER, ts TIMESTAMP, x INTEGER)`)
	reg := &Registry{Views: map[string]*View{"stats": view("stats", "stats", 0, false, "x")}}
	s := &Store{Registry: reg, Warehouse: w}
	refs, _ := reg.ParseRefs([]string{"stats"})
	for sql, want := range map[string]string{
		"select 1 as customer_id":         `the entity rows have no timestamp column "event_timestamp" (columns: customer_id); name it with --timestamp-column`,
		"select now() as event_timestamp": `feature view "stats" joins on "customer_id", which the entity rows lack (columns: event_timestamp)`,
		"select * from nowhere":           "cannot read the entity rows",
	} {
		_, _, err := s.Historical(context.Background(), &HistoricalRequest{Refs: refs, EntitiesSQL: sql})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sql, err, want)
		}
	}
	// SQL from outside is exactly one SELECT: no second statement, no DDL,
	// no COPY, no ATTACH, and no way out of the subquery it is put in.
	exec(t, w, `insert into stats values (1, '2011-01-01', 5)`)
	for _, sql := range []string{
		"select 1 as customer_id, now() as event_timestamp; drop table stats",
		"drop table stats",
		"copy (select 42) to '/tmp/tandem-x.csv'",
		"attach ':memory:' as m",
		"select 1 as customer_id, now() as event_timestamp) t, (select 1",
		"set threads = 1",
	} {
		_, _, err := s.Historical(context.Background(), &HistoricalRequest{Refs: refs, EntitiesSQL: sql})
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.HasPrefix(err.Error(), "entities_sql: ") && !strings.Contains(err.Error(), "cannot read") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if got := count(t, w, "select count(*) from stats"); got != "1" {
		t.Errorf("stats has %s rows after the refused SQL", got)
	}
	if _, err := reg.ParseRefs([]string{"stat:x"}); err == nil || !strings.Contains(err.Error(), `no feature view "stat"; did you mean "stats"?`) {
		t.Errorf("unknown view: %v", err)
	}
	if _, err := reg.ParseRefs([]string{"stats:y"}); err == nil || !strings.Contains(err.Error(), `feature view "stats" has no feature "y"`) {
		t.Errorf("unknown feature: %v", err)
	}
}

// TestPointInTimeMatchesBruteForce compares training sets with a direct
// implementation of the rules on thousands of generated rows.
func TestPointInTimeMatchesBruteForce(t *testing.T) {
	w := openWarehouse(t)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	base := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	type frow struct {
		key         int
		ts, created time.Time
		x           int
	}
	var rows []frow
	var vals []string
	for i := 0; i < 4000; i++ {
		// Coarse times (whole hours over 10 days) make ties on event time common.
		r := frow{key: rng.Intn(40), ts: base.Add(time.Duration(rng.Intn(240)) * time.Hour), x: i}
		r.created = r.ts.Add(time.Duration(rng.Intn(48)) * time.Hour).Add(time.Duration(i) * time.Microsecond) // unique created
		rows = append(rows, r)
		vals = append(vals, fmt.Sprintf("(%d, '%s', '%s', %d)", r.key, r.ts.Format("2006-01-02 15:04:05"), r.created.Format("2006-01-02 15:04:05.999999"), r.x))
	}
	exec(t, w, "create table f (customer_id INTEGER, ts TIMESTAMP, created TIMESTAMP, x INTEGER)")
	exec(t, w, "insert into f values "+strings.Join(vals, ","))
	type erow struct {
		key int
		ts  time.Time
	}
	var ents []erow
	vals = nil
	for i := 0; i < 3000; i++ {
		e := erow{key: rng.Intn(45), ts: base.Add(time.Duration(rng.Intn(260)) * time.Hour)}
		if i%10 == 0 && i > 0 {
			e = ents[rng.Intn(len(ents))] // duplicates
		}
		ents = append(ents, e)
		vals = append(vals, fmt.Sprintf("(%d, '%s')", e.key, e.ts.Format("2006-01-02 15:04:05")))
	}
	exec(t, w, "create table e (customer_id INTEGER, event_timestamp TIMESTAMP)")
	exec(t, w, "insert into e values "+strings.Join(vals, ","))

	for _, tc := range []struct {
		ttl           time.Duration
		filterCreated bool
	}{{0, false}, {36 * time.Hour, false}, {0, true}, {36 * time.Hour, true}} {
		reg := &Registry{Views: map[string]*View{"f": view("f", "f", tc.ttl, true, "x")}}
		s := &Store{Registry: reg, Warehouse: w}
		refs, _ := reg.ParseRefs([]string{"f:x"})
		_, got, err := s.Historical(ctx, &HistoricalRequest{Refs: refs, EntitiesSQL: "select * from e", FilterCreated: tc.filterCreated})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) != len(ents) {
			t.Fatalf("%d rows for %d entity rows", len(got.Rows), len(ents))
		}
		for i, e := range ents {
			var best *frow
			for j := range rows {
				r := &rows[j]
				if r.key != e.key || r.ts.After(e.ts) || tc.ttl > 0 && r.ts.Before(e.ts.Add(-tc.ttl)) || tc.filterCreated && r.created.After(e.ts) {
					continue
				}
				if best == nil || r.ts.After(best.ts) || r.ts.Equal(best.ts) && r.created.After(best.created) {
					best = r
				}
			}
			want := "NULL"
			if best != nil {
				want = fmt.Sprint(best.x)
			}
			row := got.Rows[i]
			gotX := "NULL"
			if row[2] != nil {
				gotX = fmt.Sprint(row[2])
			}
			if fmt.Sprint(row[0]) != fmt.Sprint(e.key) || gotX != want {
				t.Fatalf("ttl %v filter-created %v: entity row %d (%d at %s): got %v x=%s, want x=%s", tc.ttl, tc.filterCreated, i, e.key, e.ts, row[0], gotX, want)
			}
		}
	}
	_ = sort.Ints
}

func count(t *testing.T, w tandem.Warehouse, sql string) string {
	t.Helper()
	rows, err := w.Query(context.Background(), sql, 1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(rows.Rows[0]...)
}
