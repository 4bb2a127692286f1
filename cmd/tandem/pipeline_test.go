package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
)

// Incremental models read a source file that grows between runs.
func TestIncrementalProcessesOnlyNewRows(t *testing.T) {
	for _, strategy := range []string{"append", "delete+insert", "merge"} {
		t.Run(strategy, func(t *testing.T) {
			key := ", unique_key='id'"
			if strategy == "append" {
				key = ""
			}
			dir := newProject(t, map[string]string{
				"data/events.csv": "id,value,updated_at\n1,a,2011-01-01\n2,b,2011-01-02\n3,c,2011-01-03\n",
				"models/sources.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n" +
					"        meta:\n          external_location: \"read_csv('data/events.csv', header = true)\"\n",
				"models/events.sql": "{{ config(materialized='incremental', incremental_strategy='" + strategy + "'" + key + ") }}\n" +
					"select id, value, updated_at from {{ source('raw', 'events') }}\n" +
					"{% if is_incremental() %}where updated_at > (select max(updated_at) from {{ this }}){% endif %}\n",
			})
			run, code := build(t, dir)
			if code != 0 || result(t, run, "events").Rows != 3 {
				t.Fatalf("first run: exit %d, rows %d", code, result(t, run, "events").Rows)
			}
			// Row 2 changes (newer updated_at), row 4 is new, row 1 is edited
			// in place without a newer timestamp: an incremental run must not
			// see it.
			writeFiles(t, dir, map[string]string{"data/events.csv": "id,value,updated_at\n1,EDITED,2011-01-01\n2,B2,2011-01-05\n3,c,2011-01-03\n4,d,2011-01-06\n"})
			run, code = build(t, dir)
			if code != 0 {
				t.Fatalf("second run: exit %d %+v", code, run.Nodes)
			}
			if got := result(t, run, "events").Rows; got != 2 {
				t.Errorf("second run processed %d rows, want only the 2 new ones", got)
			}
			got := query(t, dir, "select string_agg(id || '=' || value, ' ' order by id, value) from {{ ref('events') }}")[0][0]
			want := map[string]string{
				"append":        "1=a 2=B2 2=b 3=c 4=d", // append keeps both versions of row 2
				"delete+insert": "1=a 2=B2 3=c 4=d",
				"merge":         "1=a 2=B2 3=c 4=d",
			}[strategy]
			if got != want {
				t.Errorf("after incremental run: %v, want %v", got, want)
			}
			run, code = build(t, dir, "--full-refresh")
			if code != 0 || result(t, run, "events").Rows != 4 {
				t.Fatalf("full refresh: exit %d rows %d", code, result(t, run, "events").Rows)
			}
			if got := query(t, dir, "select string_agg(id || '=' || value, ' ' order by id) from {{ ref('events') }}")[0][0]; got != "1=EDITED 2=B2 3=c 4=d" {
				t.Errorf("after --full-refresh: %v", got)
			}
		})
	}
}

// A build that fails leaves the published table as it was, and the error
// names the file.
func TestFailedBuildKeepsPreviousTable(t *testing.T) {
	dir := newProject(t, map[string]string{
		"models/t.sql": "{{ config(materialized='table') }}select 1 as id union all select 2",
		"models/v.sql": "select * from {{ ref('t') }}",
	})
	mustRun(t, "build", "--project-dir", dir)
	writeFiles(t, dir, map[string]string{"models/t.sql": "{{ config(materialized='table') }}\nselect 1 as id union all selec 2"})
	out, _, code := tandemCLI(t, "build", "--project-dir", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"ERROR model t:", "models/t.sql:2: Parser Error: syntax error at or near \"selec\"", "SKIP  view        v", "tandem retry"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rows := query(t, dir, "select count(*), (select count(*) from information_schema.tables where table_name like '%tandem_stage%') from {{ ref('v') }}")
	if rows[0][0] != float64(2) || rows[0][1] != float64(0) {
		t.Errorf("after a failed build: rows=%v stages=%v, want 2 rows and no stage left", rows[0][0], rows[0][1])
	}
}

// Killing tandem build in the middle of a model leaves the previous table
// intact and readable; the next build succeeds.
func TestKilledBuildKeepsPreviousTable(t *testing.T) {
	dir := newProject(t, map[string]string{
		"models/big.sql": "{{ config(materialized='table') }}\nselect i, md5(i::varchar) as h from range({{ var('n', 10) }}) t(i)",
	})
	mustRun(t, "build", "--project-dir", dir)

	cmd := exec.Command(os.Args[0], "build", "--project-dir", dir, "--vars", "{n: 400000000}")
	cmd.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the run has started, then give DuckDB time to write.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Run ") {
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the build finished before it was killed (%v); make the model slower", err)
	}
	rows := query(t, dir, "select count(*), sum(i) from {{ ref('big') }}")
	if rows[0][0] != float64(10) || rows[0][1] != float64(45) {
		t.Errorf("after kill: big has %v rows (sum %v), want the previous 10 rows", rows[0][0], rows[0][1])
	}
	run, code := build(t, dir, "--vars", "{n: 20}")
	if code != 0 || result(t, run, "big").Rows != 20 {
		t.Errorf("build after kill: exit %d, rows %d", code, result(t, run, "big").Rows)
	}
}

func TestFailingTestSkipsDownstream(t *testing.T) {
	files := map[string]string{
		"models/a.sql":      "select 1 as id union all select 1",
		"models/b.sql":      "select * from {{ ref('a') }}",
		"models/c.sql":      "select * from {{ ref('b') }}",
		"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests:\n          - unique:\n              severity: %s\n",
	}
	files["models/schema.yml"] = fmt.Sprintf(files["models/schema.yml"], "error")
	dir := newProject(t, files)
	run, code := build(t, dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if r := result(t, run, "unique_a_id"); r.Status != tandem.StatusFail || r.Rows != 1 {
		t.Errorf("unique test: %s with %d failing rows", r.Status, r.Rows)
	}
	for _, n := range []string{"b", "c"} {
		if r := result(t, run, n); r.Status != tandem.StatusSkipped || r.Message != "skipped: upstream unique_a_id failed" {
			t.Errorf("%s: %s %q, want skipped", n, r.Status, r.Message)
		}
	}
	writeFiles(t, dir, map[string]string{"models/schema.yml": strings.Replace(files["models/schema.yml"], "error", "warn", 1)})
	run, code = build(t, dir)
	if code != 0 || result(t, run, "unique_a_id").Status != tandem.StatusWarn || result(t, run, "c").Status != tandem.StatusSuccess {
		t.Errorf("severity warn: exit %d, test %s, c %s", code, result(t, run, "unique_a_id").Status, result(t, run, "c").Status)
	}
}

func TestRetryRerunsOnlyFailures(t *testing.T) {
	dir := newProject(t, map[string]string{
		"models/ok.sql":    "select 1 as id",
		"models/bad.sql":   "select {{ var('x') }} as id",
		"models/after.sql": "select * from {{ ref('bad') }}",
		"models/other.sql": "select * from {{ ref('ok') }}",
	})
	run, code := build(t, dir)
	if code != 1 || result(t, run, "bad").Status != tandem.StatusError || result(t, run, "after").Status != tandem.StatusSkipped {
		t.Fatalf("first build: exit %d %+v", code, run.Nodes)
	}
	if msg := result(t, run, "bad").Message; !strings.HasPrefix(msg, "models/bad.sql:1: var('x') is not set") {
		t.Errorf("error message: %s", msg)
	}
	out, _, code := tandemCLI(t, "retry", "--project-dir", dir, "--vars", "{x: 7}", "-o", "json")
	if code != 0 {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"node": "model.t.`) {
			names = append(names, strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), `"node": "model.t.`)), `",`))
		}
	}
	if strings.Join(names, " ") != "bad after" {
		t.Errorf("retry ran %v, want [bad after]", names)
	}
	if out := mustRun(t, "retry", "--project-dir", dir); !strings.Contains(out, "Nothing to retry") {
		t.Errorf("second retry: %s", out)
	}
	hist := mustRun(t, "runs", "--project-dir", dir)
	if strings.Count(hist, "\n") != 3 || !strings.Contains(hist, "retry of") {
		t.Errorf("runs history:\n%s", hist)
	}
}

func TestRollbackRestoresEarlierVersions(t *testing.T) {
	dir := newProject(t, map[string]string{
		"tandem.yaml":  "keep_versions: 2\n",
		"models/t.sql": "{{ config(materialized='table') }}select {{ var('v') }} as v",
	})
	for v := 1; v <= 4; v++ {
		mustRun(t, "build", "--project-dir", dir, "--vars", fmt.Sprintf("{v: %d}", v))
	}
	value := func() any { return query(t, dir, "select v from {{ ref('t') }}")[0][0] }
	if value() != float64(4) {
		t.Fatalf("live value %v, want 4", value())
	}
	tables := query(t, dir, "select count(*) from information_schema.tables where table_name like 't__tandem_v%'")[0][0]
	if tables != float64(2) {
		t.Errorf("%v kept versions in the warehouse, want keep_versions=2", tables)
	}
	out := mustRun(t, "rollback", "t", "--project-dir", dir)
	if !strings.Contains(out, "t is now version 3") || value() != float64(3) {
		t.Errorf("rollback: %s value %v, want 3", out, value())
	}
	// The replaced table was kept: rolling back to it undoes the rollback.
	list := mustRun(t, "rollback", "t", "--list", "--project-dir", dir)
	if !strings.Contains(list, "t__tandem_v4") {
		t.Fatalf("versions after rollback:\n%s", list)
	}
	mustRun(t, "rollback", "t", "--version", "4", "--project-dir", dir)
	if value() != float64(4) {
		t.Errorf("after undoing the rollback: %v, want 4", value())
	}
	_, errs, code := tandemCLI(t, "rollback", "t", "--version", "99", "--project-dir", dir)
	if code != 3 || !strings.Contains(errs, "t has no version 99; kept versions:") {
		t.Errorf("rollback to a missing version: exit %d %s", code, errs)
	}
}

func TestTestOnMissingColumn(t *testing.T) {
	dir := newProject(t, map[string]string{
		"models/a.sql":      "select 1 as id, 2 as amount",
		"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: idd\n        tests: [not_null]\n",
	})
	run, code := build(t, dir)
	want := `models/schema.yml:5: test not_null: column "idd" is not in a (columns: id, amount)`
	if r := result(t, run, "not_null_a_idd"); code != 1 || r.Message != want {
		t.Errorf("exit %d, message %q, want %q", code, r.Message, want)
	}
}

// A warehouse held by another process (a running tandem serve) gives a
// clear error, not a raw lock error.
func TestWarehouseHeldByAnotherProcess(t *testing.T) {
	dir := newProject(t, map[string]string{"models/a.sql": "select 1 as id"})
	w, err := duckdb.Open(filepath.Join(dir, "target/warehouse.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(os.Args[0], "build", "--project-dir", dir)
	cmd.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 6 {
		t.Errorf("exit: %v, want 6 (unavailable)", err)
	}
	want := fmt.Sprintf("is open in process %d (a running `tandem serve`?); DuckDB allows one writer per file", os.Getpid())
	if !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
