package feature

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/sqlite"
)

// TestTrainingSetRebuildsExactly: a recorded training set is rebuilt to
// the same rows after its source was rebuilt (read from the kept version),
// its entity file changed and its definition was edited; and a rebuild
// whose source rows are gone says so instead of approximating.
func TestTrainingSetRebuildsExactly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openWarehouse(t)
	meta, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	exec(t, w, `create table stats as select range % 50 as customer_id, timestamp '2021-06-01' + to_hours(range) as ts, range * 7 % 13 as orders from range(2000)`)
	v := view("stats", "stats", 10*24*time.Hour, false, "orders")
	v.Node, v.Source = "model.shop.stats", "stats"
	s := &Store{Registry: &Registry{Views: map[string]*View{"stats": v}}, Warehouse: w, Meta: meta, Dir: filepath.Join(dir, "ts")}
	entities := filepath.Join(dir, "entities.csv")
	var b strings.Builder
	b.WriteString("customer_id,event_timestamp,label\n")
	for i := 0; i < 300; i++ {
		at := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i*7) * time.Hour)
		fmt.Fprintf(&b, "%d,%s,%d\n", i%50, at.Format("2006-01-02 15:04:05"), i%2)
	}
	os.WriteFile(entities, []byte(b.String()), 0o644)
	first := filepath.Join(dir, "first.parquet")
	ts, _, err := s.Historical(ctx, &HistoricalRequest{EntitiesFile: entities, Refs: []Ref{{"stats", "orders"}}, Out: first})
	if err != nil {
		t.Fatal(err)
	}
	if ts.OutFingerprint == "" || ts.Sources[0].Fingerprint == "" || ts.EntitiesCopy == "" {
		t.Fatalf("record lacks what a rebuild needs: %+v", ts)
	}

	// The model is rebuilt as the pipeline does: the live table becomes a
	// kept version and new rows are published. The entity file and the
	// definition change too.
	exec(t, w, `alter table stats rename to stats__v1`)
	exec(t, w, `create table stats as select range % 50 as customer_id, timestamp '2021-06-01' + to_hours(range) as ts, range * 11 % 17 as orders from range(2500)`)
	if err := meta.AddTableVersion(ctx, &tandem.TableVersion{Node: v.Node, Relation: "main.stats", Version: 1, Stored: "main.stats__v1", RunID: "r1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(entities, []byte("customer_id,event_timestamp,label\n1,2021-06-02 00:00:00,0\n"), 0o644)
	v.TTL = time.Hour

	again := filepath.Join(dir, "again.parquet")
	res, err := s.Rebuild(ctx, ts.ID, again)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical || res.Read["stats"] != `"main"."stats__v1"` || res.Rebuilt.Rows != 300 {
		t.Fatalf("rebuild: identical %v, read %v, rows %d; fingerprints %s vs %s", res.Identical, res.Read, res.Rebuilt.Rows, res.Rebuilt.OutFingerprint, ts.OutFingerprint)
	}
	// Not a vacuous comparison: the same request today gives other rows.
	today, _, err := s.Historical(ctx, &HistoricalRequest{EntitiesFile: filepath.Join(dir, "ts", ts.ID+".entities.parquet"), Refs: []Ref{{"stats", "orders"}}, Out: filepath.Join(dir, "today.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	if today.OutFingerprint == ts.OutFingerprint {
		t.Fatal("the changed source and definition give the same training set; the test proves nothing")
	}
	// "latest" is the training set recorded last.
	if latest, err := s.Record(Latest); err != nil || latest.ID != today.ID {
		t.Errorf("latest: %v %v, want %s", latest, err, today.ID)
	}

	// The kept version is dropped: the rows are gone, and the error says which.
	exec(t, w, `drop table stats__v1`)
	_, err = s.Rebuild(ctx, ts.ID, filepath.Join(dir, "third.parquet"))
	if tandem.ErrorCode(err) != tandem.ECONFLICT || !strings.Contains(tandem.ErrorMessage(err), "keep_versions") {
		t.Fatalf("want a conflict naming keep_versions, got %v", err)
	}
	if _, err := s.Rebuild(ctx, "ts_nope", again); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("unknown id: %v", err)
	}
}
