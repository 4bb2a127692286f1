package http

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAPI calls every route of the API (the Feast endpoint included) with
// any path parameter, query and body, as an admin: no handler panics,
// every answer is JSON (or the metrics text), and none is a 500: bad input
// is the client's error and says so.
func FuzzAPI(f *testing.F) {
	for i, rt := range Routes {
		f.Add(uint8(i), "run-1", "limit=10&k=5&user=u1&item=A&after=2&follow=", []byte(`{"select":["a"],"features":["driver_hourly_stats"],"entities":{"driver_id":[1001]}}`))
		f.Add(uint8(i), "../..%00\x00", "limit=-1&k=1e9&after=x", []byte(`{"entities_sql":"select 1; drop table x","vars":{"a":"'"}}`))
		_ = rt
	}
	s, secrets := newTestServer(f)
	admin := secrets["admin"]
	f.Fuzz(func(t *testing.T, route uint8, param, query string, body []byte) {
		rt := Routes[int(route)%len(Routes)]
		if rt.Path == "/api/v1/runs/{id}/logs" && strings.Contains(query, "follow") {
			return // a followed log streams until its run ends
		}
		if rt.Method == "POST" && (rt.Path == "/api/v1/models/{name}/train" || rt.Path == "/api/v1/features/materialize") {
			return // real work, not input handling
		}
		path := strings.NewReplacer("{id}", url.PathEscape(param), "{name}", url.PathEscape(param)).Replace(rt.Path)
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		target := path + "?" + values.Encode()
		req := httptest.NewRequest(rt.Method, path, bytes.NewReader(body))
		req.URL.RawQuery = values.Encode()
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", rt.Method, target, body, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); rec.Code != 204 && !strings.Contains(ct, "json") && rt.Path != "/metrics" {
			t.Fatalf("%s %s: %d with Content-Type %q", rt.Method, target, rec.Code, ct)
		}
	})
}

// FuzzUIForms posts any sign-in form and searches the catalog with any
// text: no panic, no 500, and no redirect off the site.
func FuzzUIForms(f *testing.F) {
	for _, next := range []string{"/ui/models", "/\t/evil.example", "//evil.example", "/\\evil", "https://x", "/%2F%2Fevil", "/\x00"} {
		f.Add(next, "orders kind:model", true)
		f.Add(next, "\xff\xfe owner: column:", false)
	}
	s, secrets := newTestServer(f)
	viewer := secrets["viewer"]
	f.Fuzz(func(t *testing.T, next, query string, good bool) {
		tok := "tdm_wrong"
		if good {
			tok = viewer
		}
		rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(tok)+"&next="+url.QueryEscape(next), "")
		if rec.Code >= 500 {
			t.Fatalf("sign-in with next=%q: %d", next, rec.Code)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\n\r") {
				t.Fatalf("next=%q redirects to %q", next, loc)
			}
		}
		rec = browse(s, "GET", "/ui/catalog?q="+url.QueryEscape(query)+"&fragment=1", viewer, "", "")
		if rec.Code >= 500 {
			t.Fatalf("catalog ?%s: %d %s", query, rec.Code, rec.Body)
		}
	})
}
