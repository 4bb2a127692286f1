package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/project"
)

// BenchmarkGetNode is the server side of GET /api/v1/nodes/{name}:
// routing, token check, cached JSON, metrics.
//
//	go test ./http -run '^$' -bench Get
func BenchmarkGetNode(b *testing.B) { benchmarkGet(b, "/api/v1/nodes/a") }

// BenchmarkGetRun is GET /api/v1/runs/{id} of a finished run.
func BenchmarkGetRun(b *testing.B) { benchmarkGet(b, "/api/v1/runs/run-1") }

func benchmarkGet(b *testing.B, path string) {
	t := &testing.T{}
	s, secrets := newTestServer(t)
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+secrets["viewer"])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

// BenchmarkFeastOnline50 is the server side of POST /get-online-features
// for one entity x 50 features: request decoding, the online store
// lookup, value decoding and the Feast-shaped response.
//
//	go test ./http -run '^$' -bench Online50
func BenchmarkFeastOnline50(b *testing.B) {
	t := &testing.T{}
	s, secrets := newTestServer(t)
	s.Platform.(*testPlatform).fs = newWideStore(t, 50, 1000)
	feats := make([]string, 50)
	for i := range feats {
		feats[i] = fmt.Sprintf("wide:f%02d", i)
	}
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]any{"features": feats, "entities": map[string][]int{"customer_id": {i}}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/get-online-features", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", "Bearer "+secrets["viewer"])
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 || bytes.Count(rec.Body.Bytes(), []byte(`"PRESENT"`)) != 51 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

// The catalog's index and search on a generated project of 10,000 models
// (20,001 nodes); the page's target is < 100 ms in the browser.
//
//	go test ./http -run '^$' -bench Catalog
func BenchmarkCatalog10000(b *testing.B) {
	dir := b.TempDir()
	if err := examples.GenerateWide(dir, 10000, 1); err != nil {
		b.Fatal(err)
	}
	p, err := project.Load(dir, project.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("index", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buildCatalog(p, nil, nil, nil)
		}
	})
	c := buildCatalog(p, nil, nil, nil)
	for _, q := range []string{"m0999", "column:id", ""} {
		b.Run("search="+q, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, n := c.search(q, "", 100); n == 0 {
					b.Fatal("no match")
				}
			}
		})
	}
}
