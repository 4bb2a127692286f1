package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/eventlog"
	"github.com/tandem-data/tandem/kvstore"
	"github.com/tandem-data/tandem/sqlite"
)

// TestStoresArePrivate: the warehouse, the metadata store, the online
// store and the event log are readable by their owner only (they were
// created 0644), also when an earlier version created them open.
func TestStoresArePrivate(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]string{"warehouse": filepath.Join(dir, "w.duckdb"), "metastore": filepath.Join(dir, "tandem.db"), "online": filepath.Join(dir, "online.db")}
	// An earlier version's open files.
	os.MkdirAll(filepath.Join(dir, "eventlog"), 0o755)
	os.WriteFile(filepath.Join(dir, "eventlog", "old-segment"), nil, 0o644)
	w, err := duckdb.Open(paths["warehouse"], duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Exec(context.Background(), "create table t as select 1")
	defer w.Close()
	ms, err := sqlite.Open(paths["metastore"])
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	kv, err := kvstore.Open(paths["online"])
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	log, err := eventlog.Open(filepath.Join(dir, "eventlog"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.Append(context.Background(), [][]byte{[]byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "eventlog"))
	for _, e := range entries {
		paths["eventlog/"+e.Name()] = filepath.Join(dir, "eventlog", e.Name())
	}
	paths["eventlog/"] = filepath.Join(dir, "eventlog")
	for name, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: other users can read it", name, st.Mode().Perm())
		}
	}
}

// TestRunOfAGoneProcessIsSettled: a CLI build killed (a full disk, a
// SIGPIPE) stayed "running" until the next tandem serve, which then blamed
// "a stop of tandem serve". The next command that opens the project marks
// it failed, saying its process is gone.
func TestRunOfAGoneProcessIsSettled(t *testing.T) {
	dir := newProject(t, map[string]string{"models/a.sql": "select 1 as x"})
	mustRun(t, "build", "--project-dir", dir)
	// A real process that ran and is gone.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	ms, err := sqlite.Open(filepath.Join(dir, "target", "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	gone := &tandem.Run{ID: "r-killed", Command: "build", Trigger: "cli", Status: tandem.StatusRunning, StartedAt: time.Now(),
		Process: fmt.Sprintf("%s:%d", host, dead.Process.Pid)}
	alive := &tandem.Run{ID: "r-alive", Command: "build", Trigger: "cli", Status: tandem.StatusRunning, StartedAt: time.Now(), Process: tandem.ThisProcess()}
	ms.CreateRun(context.Background(), gone)
	ms.CreateRun(context.Background(), alive)
	ms.Close()
	out := mustRun(t, "runs", "-o", "json", "--project-dir", dir)
	var runs []*tandem.Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		var wrapped struct{ Runs []*tandem.Run }
		if err := json.Unmarshal([]byte(out), &wrapped); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		runs = wrapped.Runs
	}
	got := map[string]*tandem.Run{}
	for _, r := range runs {
		got[r.ID] = r
	}
	if r := got["r-killed"]; r == nil || r.Status != tandem.StatusError || !strings.Contains(r.Reason, "CLI process that ran it") || strings.Contains(r.Reason, "tandem serve") {
		t.Errorf("the killed CLI run: %+v", r)
	}
	if r := got["r-alive"]; r == nil || r.Status != tandem.StatusRunning {
		t.Errorf("a run whose process is alive was settled: %+v", r)
	}
}
