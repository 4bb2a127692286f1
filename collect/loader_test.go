package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
)

// failingTx is the real warehouse whose next transaction fails after its
// statements ran (a crash before commit).
type failingTx struct {
	tandem.Warehouse
	fail atomic.Bool
}

func (f *failingTx) Tx(ctx context.Context, fn func(tandem.Execer) error) error {
	return f.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		if err := fn(tx); err != nil {
			return err
		}
		if f.fail.Swap(false) {
			return errors.New("crash before commit")
		}
		return nil
	})
}

func count(t *testing.T, w tandem.Warehouse, sql string) string {
	t.Helper()
	rows, err := w.Query(context.Background(), sql, 1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(rows.Rows[0]...)
}

func TestLoaderLoadsExactlyOnce(t *testing.T) {
	f := newFixture(t, "")
	var batch []string
	for i := 0; i < 50; i++ {
		batch = append(batch, fmt.Sprintf(`{"type": "track", "messageId": "v%d", "anonymousId": "a%d", "event": "Product Viewed", "properties": {"product_id": "p%d", "price": %d.5, "currency": "GBP"}}`, i, i%7, i, i))
	}
	batch = append(batch, `{"type": "track", "messageId": "bad", "anonymousId": "a", "event": "Product Viewed", "properties": {"price": "free"}}`,
		`{"type": "identify", "messageId": "id1", "userId": "17850", "traits": {"country": "United Kingdom"}}`,
		`{"type": "track", "messageId": "o1", "userId": "17850", "event": "Order Completed", "properties": {"order_id": "536365", "products": [{"product_id": "85123A", "quantity": 6}]}}`)
	if code, resp, raw := f.post(t, "/v1/batch", `{"batch": [`+strings.Join(batch, ",")+`]}`, false); code != 200 || resp.Accepted != 52 || resp.Quarantined != 1 {
		t.Fatalf("%d %s", code, raw)
	}
	w, err := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fw := &failingTx{Warehouse: w}
	l := NewLoader(f.log, fw, f.c.Plan)
	l.Logger, l.Batch = f.c.Logger, 20
	ctx := context.Background()
	if err := l.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	fw.fail.Store(true)
	if _, err := l.LoadOnce(ctx, 0); err == nil {
		t.Fatal("the failing transaction did not fail")
	}
	if got := count(t, w, "select count(*) from events.events"); got != "0" {
		t.Fatalf("a failed batch left %s rows", got)
	}
	// Restart from the committed offset, as a new process would.
	next, _ := l.Next(ctx)
	for next < f.log.End() {
		if next, err = l.LoadOnce(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, w, "select count(*), count(distinct message_id) from events.events"); got != "52 52" {
		t.Errorf("events: %s, want 52 rows, 52 distinct", got)
	}
	if got := count(t, w, "select count(*), sum(price)::int, count(*) filter (where currency = 'GBP') from events.product_viewed"); got != "50 1250 50" {
		t.Errorf("product_viewed: %s", got)
	}
	if got := count(t, w, "select violation || ' ' || path || ' ' || (raw->>'messageId') from events.quarantine"); got != "required_missing properties.product_id bad" {
		t.Errorf("quarantine: %s", got)
	}
	if got := count(t, w, "select products->0->>'product_id' from events.order_completed"); got != "85123A" {
		t.Errorf("order_completed: %s", got)
	}
	if got := count(t, w, "select traits->>'country' from events.events where type = 'identify'"); got != "United Kingdom" {
		t.Errorf("identify traits: %s", got)
	}
	if n, _ := l.Next(ctx); n != 53 {
		t.Errorf("committed offset %d, want 53", n)
	}
}

func TestPlanEvolution(t *testing.T) {
	f := newFixture(t, "")
	w, _ := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	defer w.Close()
	load := func(plan string) error {
		os.WriteFile(filepath.Join(f.dir, "events", "shop.yml"), []byte(plan), 0o644)
		p, err := LoadPlan(f.dir)
		if err != nil {
			return err
		}
		l := NewLoader(f.log, w, func() *Plan { return p })
		l.Logger = f.c.Logger
		return l.Prepare(context.Background())
	}
	if err := load(shopPlan); err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(shopPlan, "      price: {type: number, minimum: 0}", "      price: {type: number, minimum: 0}\n      category: {type: string}", 1)
	if err := load(added); err != nil {
		t.Fatal(err)
	}
	if got := count(t, w, "select count(*) from information_schema.columns where table_name = 'product_viewed' and column_name = 'category'"); got != "1" {
		t.Errorf("new property: column count %s", got)
	}
	changed := strings.Replace(added, "price: {type: number, minimum: 0}", "price: {type: string}", 1)
	err := load(changed)
	want := `events/shop.yml:3: event "Product Viewed": property "price" changed from DOUBLE to VARCHAR, which the loaded table events.product_viewed cannot hold`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("incompatible change: %v", err)
	}
}

func TestReplayAfterPlanFix(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	// A track call (single, no type in the body) with a property the plan
	// does not know yet, and an event the plan does not know at all.
	f.post(t, "/v1/track", `{"messageId": "r1", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "x", "colour": "red"}}`, false)
	f.post(t, "/v1/batch", `{"batch": [{"type": "track", "messageId": "r2", "anonymousId": "a", "event": "Wishlist Shared", "properties": {"list": "l1"}}]}`, false)
	w, _ := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	defer w.Close()
	plan := f.c.Plan()
	l := NewLoader(f.log, w, func() *Plan { return plan })
	l.Logger = f.c.Logger
	drain := func() { f.drain(t, l) }
	drain()
	if got := count(t, w, "select count(*) from events.quarantine"); got != "2" {
		t.Fatalf("quarantined: %s", got)
	}
	// Nothing changed in the plan: replay keeps them quarantined.
	if res, err := l.Replay(ctx); err != nil || res.Replayed != 0 || res.Quarantined != 2 {
		t.Fatalf("replay before the fix: %+v %v", res, err)
	}
	// The fix: colour becomes a planned property. Wishlist Shared stays unplanned.
	fixed := strings.Replace(shopPlan, "      email: {type: string, format: email}", "      email: {type: string, format: email}\n      colour: {type: string}", 1)
	os.WriteFile(filepath.Join(f.dir, "events", "shop.yml"), []byte(fixed), 0o644)
	if plan, _ = LoadPlan(f.dir); plan == nil {
		t.Fatal("plan")
	}
	res, err := l.Replay(ctx)
	if err != nil || res.Replayed != 1 || res.Quarantined != 1 {
		t.Fatalf("replay after the fix: %+v %v", res, err)
	}
	drain()
	if got := count(t, w, "select count(*), min(colour) from events.product_viewed where message_id = 'r1'"); got != "1red" {
		t.Errorf("replayed event in its typed table: %s", got)
	}
	if got := count(t, w, "select count(*) filter (where replayed), count(*) filter (where not replayed) from events.quarantine"); got != "1 1" {
		t.Errorf("quarantine after replay: %s", got)
	}
	if res, err := l.Replay(ctx); err != nil || res.Replayed != 0 {
		t.Errorf("a second replay: %+v %v", res, err)
	}
}

// drain prepares the loader's tables and loads everything in the log.
func (f *fixture) drain(t *testing.T, l *Loader) {
	t.Helper()
	ctx := context.Background()
	if err := l.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for next, _ := l.Next(ctx); next < f.log.End(); {
		var err error
		if next, err = l.LoadOnce(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsCountPerMinuteAndGroupTheQuarantine(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	t0 := f.now
	f.post(t, "/v1/track", `{"messageId": "s1", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "x"}}`, false)
	f.post(t, "/v1/track", `{"messageId": "s2", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "y"}}`, false)
	f.now = t0.Add(2 * time.Minute)
	f.post(t, "/v1/track", `{"messageId": "s3", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "z"}}`, false)
	f.post(t, "/v1/track", `{"messageId": "s4", "anonymousId": "a", "event": "Product Viewed", "properties": {"price": 1}}`, false)
	f.post(t, "/v1/track", `{"messageId": "s5", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": 7}}`, false)
	w, _ := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	defer w.Close()
	l := NewLoader(f.log, w, f.c.Plan)
	l.Logger = f.c.Logger
	if st, err := LoadStats(ctx, w, "events", f.now, 10); err != nil || st.Total != 0 {
		t.Fatalf("before anything is loaded: %+v %v", st, err)
	}
	f.drain(t, l)
	st, err := LoadStats(ctx, w, "events", f.now, 10)
	if err != nil {
		t.Fatal(err)
	}
	pm := st.PerMinute["Product Viewed"]
	if st.Total != 3 || st.Quarantined != 2 || len(pm) != 10 || pm[7] != 2 || pm[9] != 1 {
		t.Errorf("window %s..%s: total %d, quarantined %d, per minute %v", st.From, st.To, st.Total, st.Quarantined, pm)
	}
	if len(st.Groups) != 2 || st.Groups[0].Count != 1 || len(st.Groups[0].Examples) != 1 || st.Groups[0].Examples[0].Path == "" {
		t.Errorf("quarantine groups: %+v", st.Groups)
	}
	// An hour later nothing arrived: the window is the last one with events.
	if later, err := LoadStats(ctx, w, "events", f.now.Add(3*time.Hour), 10); err != nil || later.Total != 3 || !later.To.Equal(st.To) {
		t.Errorf("3 hours later: %+v %v", later, err)
	}
}
