package project

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/internal/dbtcompat"
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

// BenchmarkTuvaSizeCompile loads and compiles every model and test of a
// project of tuva's size: 1,200 generated models that call dbt_utils and
// dbt_date, 120 seeds, 200 macro files of the project, and the four real
// packages in dbt_packages/ (issue 15's target: under 3 s):
//
//	go test ./project -run '^$' -bench TuvaSize -benchtime 5x
func BenchmarkTuvaSizeCompile(b *testing.B) {
	shared := dbtcompat.Shared(b)
	dir := b.TempDir()
	if err := examples.GenerateWide(dir, 1200, 1); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dbt_packages"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, pkg := range dbtcompat.Packages {
		if err := os.Symlink(filepath.Join(shared, pkg), filepath.Join(dir, "dbt_packages", pkg)); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 120; i++ {
		write(b, filepath.Join(dir, "seeds", fmt.Sprintf("s%03d.csv", i)), "id,code,amount,day\n1,a,1.5,2024-01-01\n2,b,2.5,2024-01-02\n")
	}
	for i := 0; i < 200; i++ {
		write(b, filepath.Join(dir, "macros", fmt.Sprintf("helpers_%03d.sql", i)), fmt.Sprintf(`{%% macro cents_%03d(col, scale=100) %%}
  {%%- if scale == 100 -%%}cast({{ col }} * 100 as bigint){%%- else -%%}cast({{ col }} * {{ scale }} as bigint){%%- endif -%%}
{%% endmacro %%}
{%% macro key_%03d(cols) %%}{{ dbt_utils.generate_surrogate_key(cols) }}{%% endmacro %%}
`, i, i))
	}
	// Every tenth model calls the packages, as tuva's do.
	for i := 0; i < 1200; i += 10 {
		f := filepath.Join(dir, "models", fmt.Sprintf("f%03d", i/100), fmt.Sprintf("pk%05d.sql", i))
		write(b, f, fmt.Sprintf(`select {{ key_%03d(['id', 'code']) }} as k, {{ cents_%03d('amount') }} as cents,
  {{ dbt.date_trunc('month', 'day') }} as month, {{ dbt_date.day_of_week('day') }} as dow
from {{ ref('s%03d') }}`, i%200, i%200, (i/10)%120))
	}
	b.ResetTimer()
	var nodes int
	for i := 0; i < b.N; i++ {
		p, err := Load(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		nodes = 0
		for _, id := range p.Order {
			if n := p.Nodes[id]; n.Kind == tandem.KindModel || n.Kind == tandem.KindTest {
				if _, err := p.Compile(id, CompileContext{}); err != nil {
					b.Fatal(err)
				}
				nodes++
			}
		}
	}
	b.ReportMetric(float64(nodes), "compiled")
}

func write(b *testing.B, path, body string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
}
