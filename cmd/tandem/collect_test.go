package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
