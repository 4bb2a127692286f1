package project

import (
	"testing"

	"github.com/tandem-data/tandem/examples"
)

// BenchmarkLoad parses, renders and plans a generated project:
//
//	go test ./project -run '^$' -bench Load -benchtime 5x
func BenchmarkLoad1000(b *testing.B)  { benchmarkLoad(b, 1000) }
func BenchmarkLoad10000(b *testing.B) { benchmarkLoad(b, 10000) }

func benchmarkLoad(b *testing.B, n int) {
	dir := b.TempDir()
	if err := examples.GenerateWide(dir, n, 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := Load(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Select(nil, nil, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/model")
}

// BenchmarkCompile renders one model with refs, a macro and a loop.
func BenchmarkCompile(b *testing.B) {
	dir := b.TempDir()
	if err := examples.GenerateWide(dir, 100, 1); err != nil {
		b.Fatal(err)
	}
	p, err := Load(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	n, _ := p.ByName("m00050")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Compile(n.ID, CompileContext{}); err != nil {
			b.Fatal(err)
		}
	}
}
