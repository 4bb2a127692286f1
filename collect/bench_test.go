package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-data/tandem/duckdb"
)

// BenchmarkLoad loads batches of 20,000 collected events (a third of them
// planned Product Viewed events with typed columns) into DuckDB.
//
//	go test ./collect -run '^$' -bench Load -benchtime 5x
func BenchmarkLoad(b *testing.B) {
	f := newFixture(&testing.T{}, "")
	ctx := context.Background()
	var msgs []json.RawMessage
	for i := 0; i < 20000; i++ {
		ev := "Page Scrolled"
		if i%3 == 0 {
			ev = "Product Viewed"
		}
		msgs = append(msgs, json.RawMessage(fmt.Sprintf(`{"type": "track", "messageId": "b%d", "anonymousId": "a%d", "event": %q,
			"properties": {"product_id": "p%d", "price": %d.25, "currency": "GBP"}, "context": {"ip": "10.0.0.1", "userAgent": "Mozilla/5.0"}}`, i, i%97, ev, i%500, i%40)))
	}
	f.c.Plan().Unplanned = "allow"
	w, err := duckdb.Open(filepath.Join(b.TempDir(), "w.duckdb"), duckdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	l := NewLoader(f.log, w, f.c.Plan)
	l.Logger, l.Batch = f.c.Logger, 20000
	if err := l.Prepare(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var loadTime time.Duration
	next := int64(0)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range msgs {
			msgs[j] = json.RawMessage(fmt.Sprintf(`{"type": "track", "messageId": "b%d-%d", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "p1", "price": 1.5}}`, i, j))
		}
		if _, err := f.c.Collect(ctx, "bench", "batch", msgs, "", nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if next, err = l.LoadOnce(ctx, next); err != nil {
			b.Fatal(err)
		}
		loadTime += time.Since(start)
	}
	b.ReportMetric(float64(b.N*len(msgs))/loadTime.Seconds(), "events/s")
}
