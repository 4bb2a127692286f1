package duckdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxConfinesSQL: a sandboxed warehouse reads and writes inside its
// directories only, installs and loads no extension, attaches no database,
// and its settings cannot be changed back.
func TestSandboxConfinesSQL(t *testing.T) {
	proj := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(proj, "data"), 0o755)
	os.WriteFile(filepath.Join(proj, "data", "x.csv"), []byte("a\n1\n"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("s\nsecret\n"), 0o644)
	wd, _ := os.Getwd()
	os.Chdir(proj) // as tandem serve does
	defer os.Chdir(wd)
	w, err := Open(filepath.Join(proj, "target", "w.duckdb"), Options{SearchPath: proj, Settings: map[string]any{"threads": 2},
		Sandbox: &Sandbox{Dirs: []string{proj + "/", "data/"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	for _, ok := range []string{
		"select * from read_csv('data/x.csv')",
		"select * from read_csv('" + proj + "/data/x.csv')",
		"copy (select 1) to '" + proj + "/target/out.csv'",
		"create table t as select 1 as x",
	} {
		if _, err := w.Exec(ctx, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"select content from read_text('/etc/passwd')",
		"select * from read_csv('" + outside + "/secret.csv')",
		"select * from read_csv('data/../../" + filepath.Base(outside) + "/secret.csv')",
		"copy (select 42) to '" + outside + "/x.csv'",
		"attach '" + outside + "/other.duckdb' as o",
		"install sqlite",
		"load sqlite",
		"set enable_external_access = true",
		"set allowed_directories = ['/']",
		"set autoinstall_known_extensions = true",
		"set threads = 1",
	} {
		if _, err := w.Exec(ctx, bad); err == nil {
			t.Errorf("%s: allowed", bad)
		} else if !strings.Contains(err.Error(), "Permission Error") && !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "Cannot change") {
			t.Errorf("%s: refused for another reason: %v", bad, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "x.csv")); err == nil {
		t.Error("a file was written outside the sandbox")
	}
	rows, err := w.Query(ctx, "select current_setting('threads')", 1)
	if err != nil || rows.Rows[0][0] != int64(2) {
		t.Errorf("the profile's settings were not applied before the lock: %v %v", rows, err)
	}
}
