package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
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
