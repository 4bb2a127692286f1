package main

import (
	"encoding/json"
	"io"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeHardening attacks a real tandem serve on the shop the way the
// outside probe did (issue 14), and checks each door is shut.
func TestServeHardening(t *testing.T) {
	dir, token := shopProject(t)
	key := strings.TrimSpace(mustRun(t, "key", "create", "--source", "web", "--project-dir", dir))
	editor := strings.TrimSpace(mustRun(t, "token", "create", "--role", "editor", "--name", "probe", "--project-dir", dir))
	s := startServe(t, dir, token, "2011-09-01T00:00:00Z")
	post := func(path, auth, body string) (int, string) {
		req, _ := nethttp.NewRequest("POST", s.url+path, strings.NewReader(body))
		if strings.HasPrefix(path, "/v1/") {
			req.SetBasicAuth(auth, "")
		} else {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// 1. A NUL byte in a quarantined event no longer stops loading.
	if code, body := post("/v1/track", key, `{"userId":"12347","event":"Bad\u0000Event","properties":{"a":1},"messageId":"nul-test-1"}`); code != 200 || !strings.Contains(body, `"quarantined":1`) {
		t.Fatalf("NUL event: %d %s", code, body)
	}
	// 6. An oversized non-object batch item is quarantined; the good one is kept.
	if code, body := post("/v1/batch", key, `{"batch":["`+strings.Repeat("x", 40000)+`",{"type":"identify","userId":"12347","messageId":"after-nul"}]}`); code != 200 || !strings.Contains(body, `"accepted":1`) {
		t.Fatalf("oversized item: %d %.300s", code, body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var rows struct{ Rows [][]any }
		s.call("GET", "/api/v1/nodes/events.events/preview?limit=1000", "", &rows)
		found := false
		for _, r := range rows.Rows {
			for _, v := range r {
				if v == "after-nul" {
					found = true
				}
			}
		}
		if found && s.metric("tandem_collect_loader_lag_records") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event sent after the NUL event was not loaded (lag %v)\n%s", s.metric("tandem_collect_loader_lag_records"), s.log)
		}
	}
	if strings.Contains(s.log.String(), "loading events failed") {
		t.Errorf("the loader failed:\n%s", s.log)
	}

	// 4. SQL from outside: one read-only SELECT, confined to the project.
	for _, sql := range []string{
		"select 12347 as customer_id, now()::TIMESTAMP as event_timestamp, content from read_text('/etc/passwd')",
		"select 12347 as customer_id, now()::TIMESTAMP as event_timestamp; COPY (select 42) TO '" + filepath.Join(t.TempDir(), "x.csv") + "'",
		"select 1; DROP TABLE main.daily_sales",
		"select 12347 as customer_id, now()::TIMESTAMP as event_timestamp from sqlite_scan('/tmp/x.db', 't')",
	} {
		b, _ := json.Marshal(map[string]any{"entities_sql": sql, "features": []string{"customer_rfm:frequency"}})
		if code, body := post("/api/v1/features/historical", editor, string(b)); code != 400 {
			t.Errorf("%s: %d %.300s", sql, code, body)
		} else if strings.Contains(body, "root:") {
			t.Errorf("%s: a file was read: %.300s", sql, body)
		}
	}
	if code, body := post("/api/v1/runs", editor, `{"select":["daily_sales"],"vars":{"start_date":"2000-01-01' and 1=1 union all select"}}`); code != 400 || !strings.Contains(body, "vars.start_date") {
		t.Errorf("a var with SQL in it: %d %s", code, body)
	}
	var preview struct{ Rows [][]any }
	if s.call("GET", "/api/v1/nodes/daily_sales/preview?limit=1", "", &preview); len(preview.Rows) != 1 {
		t.Errorf("daily_sales is gone: %v", preview)
	}

	// 12. An unknown backfill is 404; the stores are private.
	if code := s.call("GET", "/api/v1/backfills/bf-nope", "", nil); code != 404 {
		t.Errorf("unknown backfill: %d", code)
	}
	for _, f := range []string{"target/warehouse.duckdb", "target/tandem.db", "target/online.db", "target/eventlog"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v %v", f, st.Mode().Perm(), err)
		}
	}

	// 3. A write key revoked by the CLI, beside the running server, is
	// refused within a second.
	keys := mustRun(t, "key", "list", "--project-dir", dir)
	keyID := strings.Fields(strings.Split(keys, "\n")[1])[0]
	mustRun(t, "key", "revoke", keyID, "--project-dir", dir)
	time.Sleep(time.Second)
	if code, body := post("/v1/identify", key, `{"userId":"12347"}`); code != 401 {
		t.Errorf("a revoked key, a second later: %d %s", code, body)
	}
	// Every route is counted with its code, the collector's included.
	if v := s.metric(`tandem_http_requests_total{code="401",method="POST",route="/v1/identify"}`); v != 1 {
		t.Errorf("tandem_http_requests_total for the refused key: %v", v)
	}
}
