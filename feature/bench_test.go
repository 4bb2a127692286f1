package feature

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-data/tandem/kvstore"
)

// BenchmarkMaterialize copies 200,000 entities x 5 features from DuckDB
// into a fresh online store.
//
//	go test ./feature -run '^$' -bench Materialize -benchtime 3x
func BenchmarkMaterialize(b *testing.B) {
	t := &testing.T{}
	w := openWarehouse(t)
	exec(t, w, `create table wide as select range as customer_id, timestamp '2021-06-01' + to_seconds(range % 86400) as ts,
		random() as f1, random() as f2, (random() * 100)::BIGINT as f3, random() as f4, random() as f5 from range(200000)`)
	v := &View{Name: "wide", Keys: []string{"customer_id"}, Relation: `"main"."wide"`, Timestamp: "ts"}
	for _, f := range []string{"f1", "f2", "f3", "f4", "f5"} {
		v.Features = append(v.Features, Feature{Name: f, Type: "float64"})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		online, err := kvstore.Open(filepath.Join(b.TempDir(), fmt.Sprint(i)+".db"))
		if err != nil {
			b.Fatal(err)
		}
		s := &Store{Registry: &Registry{Views: map[string]*View{"wide": v}}, Warehouse: w, Online: online}
		if _, err := s.Materialize(context.Background(), nil, time.Time{}, time.Now(), false, nil); err != nil {
			b.Fatal(err)
		}
		online.Close()
	}
	b.ReportMetric(float64(200000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
