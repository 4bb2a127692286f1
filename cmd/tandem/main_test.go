package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tandem-data/tandem"
)

// TestMain lets a test re-execute this binary as the tandem CLI, to kill a
// real process or hold a lock from another one.
func TestMain(m *testing.M) {
	if os.Getenv("TANDEM_BE_CLI") == "1" { // exactly what main does
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// tandemCLI runs the CLI in-process.
func tandemCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := tandemCLI(t, args...)
	if code != 0 {
		t.Fatalf("tandem %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newProject(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	if _, ok := files["dbt_project.yml"]; !ok {
		files["dbt_project.yml"] = "name: t\nprofile: t\n"
	}
	writeFiles(t, dir, files)
	return dir
}

// build runs `tandem build -o json` and returns the run.
func build(t *testing.T, dir string, extra ...string) (*tandem.Run, int) {
	t.Helper()
	out, errs, code := tandemCLI(t, append([]string{"build", "--project-dir", dir, "-o", "json"}, extra...)...)
	var run tandem.Run
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("build output is not a run (exit %d): %v\n%s\n%s", code, err, out, errs)
	}
	return &run, code
}

func result(t *testing.T, run *tandem.Run, name string) *tandem.NodeResult {
	t.Helper()
	for _, n := range run.Nodes {
		if n.Node[strings.LastIndex(n.Node, ".")+1:] == name {
			return n
		}
	}
	t.Fatalf("run has no node %s", name)
	return nil
}

// query runs SQL through `tandem show --inline` and returns the rows.
func query(t *testing.T, dir, sql string) [][]any {
	t.Helper()
	out := mustRun(t, "show", "--project-dir", dir, "--inline", sql, "--limit", "1000", "-o", "json")
	var rows tandem.Rows
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("show output: %v\n%s", err, out)
	}
	return rows.Rows
}

func TestQuickstartBuildsShop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	out := mustRun(t, "quickstart", dir)
	for _, want := range []string{
		"Created the shop example in " + dir,
		"0 failed tests, 0 errors, 0 skipped.",
		"main.orders                         table        12,383 rows",
		"main.customers                      table        3,314 rows",
		"Next (from this folder):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	// The cleaning the docs promise holds on the real data.
	rows := query(t, dir, `select
		(select count(*) from {{ ref('order_lines') }} where invoice_no like 'C%' or quantity <= 0 or unit_price <= 0),
		(select count(*) from {{ ref('order_lines') }} where stock_code in ('POST', 'DOT', 'M', 'BANK CHARGES', 'AMAZONFEE')),
		(select count(*) from {{ ref('customers') }} where customer_id is null),
		(select count(distinct customer_id) from {{ ref('order_lines') }})`)
	if got := rows[0]; got[0] != float64(0) || got[1] != float64(0) || got[2] != float64(0) || got[3] != float64(3314) {
		t.Errorf("cleaning checks = %v, want [0 0 0 3314]", got)
	}
	// A second quickstart reuses the project and rebuilds it.
	if out := mustRun(t, "quickstart", dir); !strings.Contains(out, "Using the project already in") {
		t.Errorf("second quickstart:\n%s", out)
	}
}

func TestExistingDbtProjectBuildsUnchanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/jaffle_shop")); err != nil {
		t.Fatal(err)
	}
	run, code := build(t, dir)
	if code != 0 || run.Status != tandem.StatusSuccess {
		t.Fatalf("build: exit %d, status %s: %+v", code, run.Status, run.Nodes)
	}
	var seeds, models, tests int
	for _, n := range run.Nodes {
		switch n.Kind {
		case tandem.KindSeed:
			seeds++
		case tandem.KindModel:
			models++
		case tandem.KindTest:
			tests++
		}
	}
	if seeds != 3 || models != 5 || tests != 20 {
		t.Errorf("built %d seeds, %d models, %d tests; want 3, 5, 20", seeds, models, tests)
	}
	// profiles.yml's path is where the warehouse is.
	if _, err := os.Stat(filepath.Join(dir, "jaffle_shop.duckdb")); err != nil {
		t.Errorf("warehouse not at the profile's path: %v", err)
	}
	// The for-loop pivot adds up to the payments, computed here from the CSV.
	b, _ := os.ReadFile(filepath.Join(dir, "seeds/raw_payments.csv"))
	var cents int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, ",")
		c, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		cents += c
	}
	rows := query(t, dir, `select (sum(amount) * 100)::bigint, (sum(credit_card_amount + coupon_amount + bank_transfer_amount + gift_card_amount) * 100)::bigint,
		(select count(*) from {{ ref('customers') }}), (select count(*) from main.stg_orders) from {{ ref('orders') }}`)
	want := []any{float64(cents), float64(cents), float64(100), float64(99)}
	for i := range want {
		if rows[0][i] != want[i] {
			t.Errorf("column %d = %v, want %v", i, rows[0][i], want[i])
		}
	}
	// Kinds in the warehouse match the materializations.
	kinds := query(t, dir, `select table_name, table_type from information_schema.tables where table_schema = 'main' order by 1`)
	got := map[string]string{}
	for _, r := range kinds {
		got[r[0].(string)] = r[1].(string)
	}
	for name, typ := range map[string]string{"customers": "BASE TABLE", "orders": "BASE TABLE", "stg_orders": "VIEW", "raw_payments": "BASE TABLE"} {
		if got[name] != typ {
			t.Errorf("%s is %q, want %q", name, got[name], typ)
		}
	}
}
