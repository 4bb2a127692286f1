package http

import (
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
