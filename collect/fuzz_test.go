package collect

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzCollector sends any body to any Segment call, gzipped or not, with
// the write key in the header or the body: the handler never panics, always
// answers JSON with a status a Segment client understands, and on 200
// accounts for every message it was given.
func FuzzCollector(f *testing.F) {
	for _, seed := range []string{
		`{"userId":"12347","event":"Product Viewed","properties":{"product_id":"a"}}`,
		`{"batch":[{"type":"track","userId":"u","event":"Bad\u0000Event"},"x",[1],null,{"type":"alias"}]}`,
		`{"batch":["` + string(bytes.Repeat([]byte("x"), 100)) + `"],"context":{"ip":"1"},"sentAt":"2011-01-01T00:00:00Z"}`,
		`{"userId":1e300,"timestamp":"9999-01-01T00:00:00Z","sentAt":"0002-01-01T00:00:00Z"}`,
		`{"writeKey":"wk_test","userId":"\ud800"}`, `[]`, `null`, ``, "\xff\xfe",
	} {
		for kind := byte(0); kind < 9; kind += 4 {
			f.Add(kind, []byte(seed), false, true)
		}
	}
	fx := newFixture(f, "")
	kinds := []string{"batch", "import", "track", "identify", "page", "screen", "group", "alias", "nope"}
	f.Fuzz(func(t *testing.T, kind byte, body []byte, gz, basic bool) {
		k := kinds[int(kind)%len(kinds)]
		payload := body
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(body)
			w.Close()
			payload = b.Bytes()
		}
		req := httptest.NewRequest("POST", "/v1/"+k, bytes.NewReader(payload))
		if basic {
			req.SetBasicAuth(fx.key, "")
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		fx.c.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound:
		default:
			t.Fatalf("/v1/%s answered %d: %s", k, rec.Code, rec.Body)
		}
		var resp Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("not JSON: %q", rec.Body)
		}
		if rec.Code == 200 && resp.Accepted+resp.Quarantined+resp.Duplicates == 0 && (k != "batch" && k != "import") {
			t.Fatalf("a single call accounted for nothing: %s", rec.Body)
		}
	})
}
