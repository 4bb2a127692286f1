package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
