package main

import (
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// requireTool finds a program a test needs; it skips with a reason, or
// fails when CI says every dependency must be there.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TANDEM_REQUIRE_SERVICES") != "" {
			t.Fatalf("%s is not installed and TANDEM_REQUIRE_SERVICES is set", name)
		}
		t.Skipf("%s is not installed; skipping", name)
	}
	return path
}

// The official Segment Node SDK, unchanged, sends to tandem serve; the
// events land in the warehouse and a model builds from them.
func TestSegmentNodeSDKToWarehouse(t *testing.T) {
	node := requireTool(t, "node")
	sdk, _ := filepath.Abs("../../testdata/segment-node")
	if _, err := os.Stat(filepath.Join(sdk, "node_modules", "@segment", "analytics-node")); err != nil {
		npm := requireTool(t, "npm")
		install := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		install.Dir = sdk
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	dir, token := shopProject(t)
	key := strings.TrimSpace(mustRun(t, "key", "create", "--source", "web", "--project-dir", dir))
	s := startServe(t, dir, token, time.Now().UTC().Format(time.RFC3339))
	send := exec.Command(node, "send.js")
	send.Dir = sdk
	send.Env = append(os.Environ(), "TANDEM_URL="+s.url, "TANDEM_WRITE_KEY="+key)
	if out, err := send.CombinedOutput(); err != nil || !strings.Contains(string(out), "flushed") || strings.Contains(string(out), "sdk error") {
		t.Fatalf("node send.js: %v\n%s", err, out)
	}
	preview := func(node string) *tandem.Rows {
		var rows tandem.Rows
		s.call("GET", "/api/v1/nodes/"+node+"/preview?limit=100", "", &rows)
		return &rows
	}
	for deadline := time.Now().Add(10 * time.Second); len(preview("events.events").Rows) < 24; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("events did not reach the warehouse: %d rows\n%s", len(preview("events.events").Rows), s.log)
		}
	}
	if n := len(preview("events.product_viewed").Rows); n != 20 {
		t.Errorf("product_viewed has %d rows, want 20", n)
	}
	q := preview("events.quarantine")
	if len(q.Rows) != 1 {
		t.Fatalf("quarantine has %d rows, want 1", len(q.Rows))
	}
	col := map[string]int{}
	for i, c := range q.Columns {
		col[c.Name] = i
	}
	if row := q.Rows[0]; row[col["violation"]] != "required_missing" || row[col["path"]] != "properties.product_id" || row[col["source"]] != "web" {
		t.Errorf("quarantined row: %v", row)
	}
	// A pipeline builds from the collected clickstream.
	var run tandem.Run
	s.call("POST", "/api/v1/runs", `{"command": "build", "select": ["product_engagement"]}`, &run)
	var done tandem.Run
	for deadline := time.Now().Add(30 * time.Second); done.Status != tandem.StatusSuccess; time.Sleep(100 * time.Millisecond) {
		s.call("GET", "/api/v1/runs/"+run.ID, "", &done)
		if done.Status == tandem.StatusError || time.Now().After(deadline) {
			t.Fatalf("building product_engagement: %+v", done)
		}
	}
	rows := preview("product_engagement")
	found := 0
	for _, r := range rows.Rows {
		if r[0] == "85123A" && r[1] == float64(20) && r[2] == float64(1) {
			found++
		}
		if r[0] == "71053" && r[3] == float64(1) && r[4] == float64(6) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("product_engagement: %v", rows.Rows)
	}
}

// metric reads one sample of /metrics.
func (s *server) metric(name string) float64 {
	s.t.Helper()
	req, _ := nethttp.NewRequest("GET", s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	return -1
}

// SIGKILL under load, restart: every acknowledged event is in the
// warehouse exactly once.
func TestCollectorKilledUnderLoadLosesNothingAcknowledged(t *testing.T) {
	dir, token := shopProject(t)
	key := strings.TrimSpace(mustRun(t, "key", "create", "--source", "load", "--project-dir", dir))
	s := startServe(t, dir, token, time.Now().UTC().Format(time.RFC3339))
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &nethttp.Client{Timeout: 5 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var msgs, ids []string
				for i := 0; i < 50; i++ {
					id := fmt.Sprintf("k%d-%d-%d", c, n, i)
					ids = append(ids, id)
					msgs = append(msgs, fmt.Sprintf(`{"type": "track", "messageId": %q, "anonymousId": "a%d", "event": "Product Viewed", "properties": {"product_id": "p%d", "price": 1.5}}`, id, c, i))
				}
				req, _ := nethttp.NewRequest("POST", s.url+"/v1/batch", strings.NewReader(`{"batch": [`+strings.Join(msgs, ",")+`]}`))
				req.SetBasicAuth(key, "")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}
		}(c)
	}
	time.Sleep(1500 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged before the kill", len(acked))
	}
	s2 := startServe(t, dir, token, time.Now().UTC().Format(time.RFC3339))
	for deadline := time.Now().Add(30 * time.Second); s2.metric("tandem_collect_loader_lag_records") != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the loader did not catch up: lag %v", s2.metric("tandem_collect_loader_lag_records"))
		}
	}
	s2.cmd.Process.Signal(syscall.SIGTERM)
	s2.cmd.Wait()
	ids := "message_id\n" + strings.Join(acked, "\n") + "\n"
	os.WriteFile(filepath.Join(dir, "acked.csv"), []byte(ids), 0o644)
	rows := query(t, dir, `select (select count(*) from read_csv('acked.csv', header = true)),
		(select count(*) from read_csv('acked.csv', header = true) a join events.events e using (message_id)),
		(select count(*) - count(distinct message_id) from events.events),
		(select count(*) from events.product_viewed) = (select count(*) from events.events where event = 'Product Viewed')`)
	if got := rows[0]; got[0] != float64(len(acked)) || got[1] != float64(len(acked)) || got[2] != float64(0) || got[3] != true {
		t.Errorf("acknowledged %d; found %v of them, %v duplicates, typed table consistent: %v", len(acked), got[1], got[2], got[3])
	}
	t.Logf("%d events acknowledged before SIGKILL, all loaded once", len(acked))
}

// The shop's clickstream, made from real orders, flows through the
// collector into the warehouse, and the shop's pipeline builds from it.
func TestShopClickstreamFlowsIntoPipelines(t *testing.T) {
	dir, token := shopProject(t)
	key := strings.TrimSpace(mustRun(t, "key", "create", "--source", "web", "--project-dir", dir))
	s := startServe(t, dir, token, time.Now().UTC().Format(time.RFC3339))
	out := mustRun(t, "events", "generate", "--key", key, "--url", s.url, "--orders", "200", "--project-dir", dir, "-o", "json")
	var sent struct{ Orders, Events, Accepted, Quarantined, Duplicates int }
	json.Unmarshal([]byte(out), &sent)
	if sent.Orders != 200 || sent.Accepted+sent.Quarantined != sent.Events || sent.Quarantined == 0 || sent.Duplicates != 0 {
		t.Fatalf("generate: %s", out)
	}
	for deadline := time.Now().Add(30 * time.Second); s.metric("tandem_collect_loader_lag_records") != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loader did not catch up")
		}
	}
	var run tandem.Run
	s.call("POST", "/api/v1/runs", `{"command": "build", "select": ["product_engagement"]}`, &run)
	var done tandem.Run
	for deadline := time.Now().Add(30 * time.Second); done.Status != tandem.StatusSuccess; time.Sleep(100 * time.Millisecond) {
		s.call("GET", "/api/v1/runs/"+run.ID, "", &done)
		if done.Status == tandem.StatusError || time.Now().After(deadline) {
			t.Fatalf("building product_engagement: %+v", done)
		}
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	// Products sold in those 200 orders were viewed and added to a cart, but
	// for the few whose only view or add was among the 2% broken events.
	rows := query(t, dir, `with sold as (
			select distinct p.product_id from events.order_completed o, unnest(from_json(o.products, '["json"]')) as u(p),
			lateral (select p->>'product_id' as product_id) p
		)
		select (select count(*) from sold),
		       (select count(*) from sold join {{ ref('product_engagement') }} e using (product_id) where e.views > 0 and e.cart_adds > 0),
		       (select count(*) from {{ source('events', 'quarantine') }}) = `+fmt.Sprint(sent.Quarantined)+`,
		       (select count(*) from events.events) = `+fmt.Sprint(sent.Accepted))
	r := rows[0]
	if r[0].(float64) < 500 || r[1].(float64) < 0.97*r[0].(float64) || r[2] != true || r[3] != true {
		t.Errorf("sold products %v, of them viewed and added %v; quarantine and events counts match: %v %v", r[0], r[1], r[2], r[3])
	}
}
