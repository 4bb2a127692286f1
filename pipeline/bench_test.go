package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/sqlite"
)

// BenchmarkRunChain builds a chain of 100 one-row table models, publishing
// and keeping versions on every rebuild: the orchestration hot path.
//
//	go test ./pipeline -run '^$' -bench RunChain -benchtime 5x
func BenchmarkRunChain100(b *testing.B) {
	dir := b.TempDir()
	if err := examples.GenerateChain(dir, 100); err != nil {
		b.Fatal(err)
	}
	p, err := project.Load(dir, project.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := duckdb.Open(filepath.Join(dir, "w.duckdb"), duckdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	m, err := sqlite.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r := NewRunner(p, w, m)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run, err := r.Run(context.Background(), &tandem.Run{Command: "bench"}, p.Order)
		if err != nil || run.Status != tandem.StatusSuccess {
			b.Fatalf("run: %v %s", err, run.Status)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*100), "ms/node")
}
