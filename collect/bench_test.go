package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/examples"
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

// discardLog is an EventLog that keeps nothing: it isolates the CPU cost
// of decoding, validating and encoding from the disk.
type discardLog struct{ n atomic.Int64 }

func (d *discardLog) Append(_ context.Context, recs [][]byte) (int64, error) {
	return d.n.Add(int64(len(recs))) - int64(len(recs)), nil
}
func (d *discardLog) Read(context.Context, int64, int) ([]tandem.Record, error) { return nil, nil }
func (d *discardLog) Wait(context.Context, int64) error                         { return nil }
func (d *discardLog) End() int64                                                { return d.n.Load() }
func (d *discardLog) Close() error                                              { return nil }

// BenchmarkCollect decodes, validates and encodes request bodies of 100
// Segment-shaped track calls of about 500 bytes against a tracking plan,
// into a log that keeps nothing: the collector's CPU cost per event.
//
//	go test ./collect -run '^$' -bench 'Collect$' -benchtime 3s
func BenchmarkCollect(b *testing.B) {
	dir := b.TempDir()
	if err := examples.Write("shop", dir); err != nil {
		b.Fatal(err)
	}
	plan, err := LoadPlan(dir)
	if err != nil {
		b.Fatal(err)
	}
	c := &Collector{Log: &discardLog{}, Plan: func() *Plan { return plan }, Clock: time.Now, Dedup: NewDedup(7 * 24 * time.Hour)}
	ctx := context.Background()
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	msgs := make([]json.RawMessage, 100)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range msgs {
			msgs[j] = json.RawMessage(fmt.Sprintf(`{"type": "track", "messageId": "bench-%d-%d", "anonymousId": "anon-%d", "event": "Product Viewed",
"timestamp": "2026-11-21T10:00:00.123Z", "properties": {"product_id": "p%d", "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55, "currency": "GBP", "category": "home", "url": "https://shop.example/p/%d"},
"context": {"ip": "10.1.2.3", "library": {"name": "analytics-node", "version": "2.3.0"},
"userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}}`, i, j, j, j, j))
		}
		body, _ := json.Marshal(map[string]any{"batch": msgs, "sentAt": "2026-11-21T10:00:01Z"})
		b.StartTimer()
		r, err := c.CollectBody(ctx, "bench", "batch", body)
		if err != nil {
			b.Fatal(err)
		}
		if r.Quarantined > 0 {
			b.Fatalf("quarantined: %+v", r.Errors[0])
		}
		total += int64(r.Accepted)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
