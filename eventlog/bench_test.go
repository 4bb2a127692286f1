package eventlog

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkAppend appends batches of 100 records of 500 bytes (a Segment
// batch) from 8 goroutines, fsynced before each acknowledgement.
//
//	go test ./eventlog -run '^$' -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = make([]byte, 500)
	}
	b.SetBytes(100 * 500)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/8 + 1
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := l.Append(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*8*100)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(per*8)/float64(l.Syncs()), "appends/fsync")
}
