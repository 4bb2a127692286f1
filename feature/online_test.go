package feature

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem/kvstore"
)

// TestOnlineEqualsTrainingSetAtNow: after materializing, the online value
// of every entity is the training set's value for entity_ts = now (and a
// value the training set leaves out for its ttl is OUTSIDE_MAX_AGE).
func TestOnlineEqualsTrainingSetAtNow(t *testing.T) {
	w := openWarehouse(t)
	ctx := context.Background()
	now := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewSource(3))
	var vals []string
	for i := 0; i < 3000; i++ {
		ts := now.Add(-time.Duration(rng.Intn(60*24)) * time.Hour)
		vals = append(vals, fmt.Sprintf("(%d, '%s', '%s', %d, %.2f, %s)", rng.Intn(300), ts.Format("2006-01-02 15:04:05"),
			ts.Add(time.Duration(rng.Intn(5))*time.Hour).Format("2006-01-02 15:04:05"), i, rng.Float64()*100, map[bool]string{true: "NULL", false: "'s" + fmt.Sprint(i%7) + "'"}[i%11 == 0]))
	}
	exec(t, w, "create table f (customer_id BIGINT, ts TIMESTAMP, created TIMESTAMP, x BIGINT, m DOUBLE, s VARCHAR)")
	exec(t, w, "insert into f values "+strings.Join(vals, ","))
	v := &View{Name: "f", Keys: []string{"customer_id"}, Relation: `"main"."f"`, Timestamp: "ts", Created: "created", TTL: 30 * 24 * time.Hour,
		Features: []Feature{{Name: "x", Type: "int64"}, {Name: "m", Type: "float64"}, {Name: "s", Type: "string"}}}
	online, err := kvstore.Open(filepath.Join(t.TempDir(), "online.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer online.Close()
	s := &Store{Registry: &Registry{Views: map[string]*View{"f": v}}, Warehouse: w, Online: online, Clock: func() time.Time { return now }}
	// Two ranges, the newer first: the older one must not overwrite it.
	mid := now.Add(-20 * 24 * time.Hour)
	if _, err := s.Materialize(ctx, nil, mid, now.Add(time.Second), false, nil); err == nil || !strings.Contains(err.Error(), "after the platform clock's now") {
		t.Fatalf("an end in the future: %v", err)
	}
	s.Clock = func() time.Time { return now.Add(time.Second) }
	if _, err := s.Materialize(ctx, nil, mid, now.Add(time.Second), false, nil); err != nil {
		t.Fatal(err)
	}
	s.Clock = func() time.Time { return now }
	res, err := s.Materialize(ctx, nil, time.Time{}, mid, false, nil)
	if err != nil || len(res) != 1 || res[0].Rows == 0 {
		t.Fatalf("materialize: %+v %v", res, err)
	}

	exec(t, w, fmt.Sprintf("create table ent as select range as customer_id, '%s'::TIMESTAMP as event_timestamp from range(305)", now.Format("2006-01-02 15:04:05")))
	refs, _ := s.Registry.ParseRefs([]string{"f"})
	_, ts, err := s.Historical(ctx, &HistoricalRequest{Refs: refs, EntitiesSQL: "select * from ent"})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]any, 305)
	for i := range ids {
		ids[i] = float64(i) // as a JSON request sends them
	}
	gotRefs, got, n, err := s.Lookup(ctx, &OnlineRequest{Features: []string{"f:x,f:m,f:s"}, Entities: map[string][]any{"customer_id": ids}})
	if err != nil || n != 305 || len(gotRefs) != 3 {
		t.Fatal(n, err)
	}
	statuses := map[string]int{}
	for e := 0; e < n; e++ {
		for i := range gotRefs {
			want := ts.Rows[e][2+i]
			g := got[i][e]
			statuses[g.Status]++
			switch g.Status {
			case Present:
				if fmt.Sprint(want) != fmt.Sprint(g.Value) {
					t.Fatalf("customer %d %s: online %v, training set %v", e, gotRefs[i], g.Value, want)
				}
			case NotFound, OutsideMaxAge, NullValue:
				if want != nil {
					t.Fatalf("customer %d %s: online %s, training set %v", e, gotRefs[i], g.Status, want)
				}
			}
		}
	}
	// Every status shows up: the generator makes stale, missing and null values.
	for _, st := range []string{Present, NotFound, OutsideMaxAge, NullValue} {
		if statuses[st] == 0 {
			t.Errorf("no %s value in %v", st, statuses)
		}
	}
	// Incremental: only what is new since the mark.
	later := now.Add(30 * time.Minute).Format("2006-01-02 15:04:05")
	exec(t, w, fmt.Sprintf("insert into f values (7, '%s', '%s', 99999, 1.5, 'new')", later, later))
	s.Clock = func() time.Time { return now.Add(time.Hour) }
	res, err = s.Materialize(ctx, nil, time.Time{}, now.Add(time.Hour), true, nil)
	if err != nil || res[0].Rows != 1 || !res[0].Start.Equal(now.Add(time.Second)) {
		t.Fatalf("incremental: %+v %v", res[0], err)
	}
	_, got, _, _ = s.Lookup(ctx, &OnlineRequest{Features: []string{"f:x"}, Entities: map[string][]any{"customer_id": {json.Number("7")}}})
	if fmt.Sprint(got[0][0].Value) != "99999" {
		t.Errorf("after incremental materialization: %+v", got[0][0])
	}
}

// Rows tied on key and event time (and created time) have one answer, the
// same offline and online, whatever order they are stored in: the greatest
// feature values win, in the order the view declares them (issue 14, item
// 16).
func TestTiedRowsHaveOneAnswer(t *testing.T) {
	w := openWarehouse(t)
	ctx := context.Background()
	now := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	exec(t, w, "create table f (customer_id BIGINT, ts TIMESTAMP, created TIMESTAMP, x BIGINT, y BIGINT)")
	// Customer 1: three rows at one time, none created later; x ties on 7
	// between two rows, which y decides. Customer 2: NULL loses to a value.
	exec(t, w, `insert into f values
		(1, '2011-08-01', '2011-08-01', 5, 1), (1, '2011-08-01', '2011-08-01', 7, 2), (1, '2011-08-01', '2011-08-01', 7, 9),
		(1, '2011-08-01', '2011-08-01', 6, 50), (2, '2011-08-02', NULL, NULL, 3), (2, '2011-08-02', NULL, 4, 0)`)
	for _, created := range []string{"", "created"} {
		v := &View{Name: "f", Keys: []string{"customer_id"}, Relation: `"main"."f"`, Timestamp: "ts", Created: created,
			Features: []Feature{{Name: "x", Type: "int64"}, {Name: "y", Type: "int64"}}}
		online, err := kvstore.Open(filepath.Join(t.TempDir(), "online.db"))
		if err != nil {
			t.Fatal(err)
		}
		s := &Store{Registry: &Registry{Views: map[string]*View{"f": v}}, Warehouse: w, Online: online, Clock: func() time.Time { return now }}
		if _, err := s.Materialize(ctx, nil, time.Time{}, now, false, nil); err != nil {
			t.Fatal(err)
		}
		refs, _ := s.Registry.ParseRefs([]string{"f"})
		for _, filter := range []bool{false, true} {
			_, ts, err := s.Historical(ctx, &HistoricalRequest{Refs: refs, FilterCreated: filter,
				EntitiesSQL: "select * from (values (1, '2011-08-30'::TIMESTAMP), (2, '2011-08-30'::TIMESTAMP)) e(customer_id, event_timestamp)"})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsText(ts); got[0] != "1 2011-08-30 7 9" || got[1] != "2 2011-08-30 4 0" {
				t.Errorf("created %q, filter-created %v: training set %q, want x=7 y=9 and x=4 y=0", created, filter, got)
			}
		}
		_, got, _, err := s.Lookup(ctx, &OnlineRequest{Features: []string{"f:x,f:y"}, Entities: map[string][]any{"customer_id": {float64(1), float64(2)}}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%v %v %v %v", got[0][0].Value, got[1][0].Value, got[0][1].Value, got[1][1].Value) != "7 9 4 0" {
			t.Errorf("created %q: online %v %v / %v %v, want 7 9 / 4 0", created, got[0][0].Value, got[1][0].Value, got[0][1].Value, got[1][1].Value)
		}
		online.Close()
	}
}
