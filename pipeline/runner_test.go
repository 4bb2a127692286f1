package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/sqlite"
)

// flaky is the real warehouse whose next failures transactions fail with a
// transient error first, the way a write-write conflict would.
type flaky struct {
	tandem.Warehouse
	failures atomic.Int32
}

type transientErr struct{}

func (transientErr) Error() string   { return "TransactionContext Error: write-write conflict" }
func (transientErr) Transient() bool { return true }

func (f *flaky) Tx(ctx context.Context, fn func(tandem.Execer) error) error {
	if f.failures.Add(-1) >= 0 {
		return transientErr{}
	}
	return f.Warehouse.Tx(ctx, fn)
}

func newRunner(t *testing.T, files map[string]string) (*Runner, *flaky) {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["dbt_project.yml"]; !ok {
		files["dbt_project.yml"] = "name: t\nprofile: t\n"
	}
	for name, body := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := project.Load(dir, project.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := duckdb.Open(filepath.Join(dir, "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sqlite.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); m.Close() })
	f := &flaky{Warehouse: w}
	r := NewRunner(p, f, m)
	r.Backoff = 10 * time.Millisecond
	return r, f
}

func TestTransientFailuresAreRetriedWithBackoff(t *testing.T) {
	r, f := newRunner(t, map[string]string{"models/t.sql": "{{ config(materialized='table') }}select 1 as id"})
	f.failures.Store(2)
	start := time.Now()
	run, err := r.Run(context.Background(), &tandem.Run{Command: "test"}, r.Project.Order)
	if err != nil {
		t.Fatal(err)
	}
	res := run.Nodes[0]
	if res.Status != tandem.StatusSuccess || res.Attempts != 3 {
		t.Errorf("status %s after %d attempts, want success on the 3rd", res.Status, res.Attempts)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond { // 10ms, then 20ms
		t.Errorf("retried after %v; the backoff (10ms doubling) was not applied", waited)
	}
	// Out of attempts: the error is reported, with the node's file.
	f.failures.Store(5)
	run, err = r.Run(context.Background(), &tandem.Run{Command: "test"}, r.Project.Order)
	if err != nil {
		t.Fatal(err)
	}
	if res := run.Nodes[0]; res.Status != tandem.StatusError || res.Attempts != 3 || res.Message != "models/t.sql: TransactionContext Error: write-write conflict" {
		t.Errorf("got %s after %d attempts: %q", res.Status, res.Attempts, res.Message)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	r, _ := newRunner(t, map[string]string{"models/t.sql": "{{ config(materialized='table') }}select nope"})
	run, err := r.Run(context.Background(), &tandem.Run{Command: "test"}, r.Project.Order)
	if err != nil {
		t.Fatal(err)
	}
	if res := run.Nodes[0]; res.Attempts != 1 || !strings.Contains(res.Message, `Referenced column "nope" was not found`) {
		t.Errorf("%d attempts: %s", res.Attempts, res.Message)
	}
}

func TestBadSeedKeepsPublishedSeed(t *testing.T) {
	r, _ := newRunner(t, map[string]string{"seeds/s.csv": "id,name\n1,a\n2,b\n"})
	ctx := context.Background()
	if run, _ := r.Run(ctx, &tandem.Run{Command: "seed"}, r.Project.Order); run.Status != tandem.StatusSuccess {
		t.Fatalf("first seed: %+v", run.Nodes[0])
	}
	os.WriteFile(filepath.Join(r.Project.Dir, "seeds/s.csv"), []byte("id,name\n1,a\n2,b,c\n3,d\n"), 0o644)
	run, _ := r.Run(ctx, &tandem.Run{Command: "seed"}, r.Project.Order)
	if res := run.Nodes[0]; res.Status != tandem.StatusError || res.Message != "seeds/s.csv:3: wrong number of fields: every row must have as many fields as the header" {
		t.Errorf("bad seed: %s %q", res.Status, res.Message)
	}
	rows, err := r.Warehouse.Query(ctx, `select count(*) from main.s`, 1)
	if err != nil || rows.Rows[0][0] != int64(2) {
		t.Errorf("published seed after a bad load: %v %v, want the 2 earlier rows", rows, err)
	}
}

// A database error in a model's SQL names the line of the .sql file the
// user must fix, not the line of its properties or of the compiled
// statement, through Jinja that adds and removes lines and ephemeral
// models injected as CTEs (issue 14, item 13).
func TestSQLErrorsNameTheLineOfTheModelFile(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"models/marts/daily.sql": "select day,\n       count(nosuch) as n\nfrom {{ ref('base') }}\ngroup by 1",
		"models/marts/schema.yml": "version: 2\nmodels:\n  - name: base\n    description: b\n  - name: daily\n" +
			"    description: d\n    config:\n      materialized: table\n",
		"models/base.sql": "select current_date as day",
		"models/jinja.sql": "{{ config(\n    materialized='table',\n    tags=['a', 'b']\n) }}\n{% set cols = ['1 as a', '2 as b'] %}\n" +
			"select\n{% for c in cols %}\n    {{ c }},\n{% endfor %}\n    {{ var('missing_col', 'nope') }} as c\nfrom {{ ref('base') }}",
		"models/eph.sql":  "{{ config(materialized='ephemeral') }}\nselect\n    1 as id,\n    ghost as g",
		"models/uses.sql": "{{ config(materialized='table') }}\nselect id\nfrom {{ ref('eph') }}",
	})
	run, err := r.Run(context.Background(), &tandem.Run{Command: "test"}, r.Project.Order)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"model.t.daily": "models/marts/daily.sql:2: Binder Error",
		"model.t.jinja": "models/jinja.sql:10: Binder Error",
		"model.t.uses":  "models/eph.sql:4: Binder Error",
	}
	for _, res := range run.Nodes {
		w, ok := want[res.Node]
		if !ok {
			continue
		}
		delete(want, res.Node)
		if !strings.HasPrefix(res.Message, w) {
			t.Errorf("%s: %q, want it to start %q", res.Node, res.Message, w)
		}
		if strings.Contains(res.Message, "LINE ") {
			t.Errorf("%s: the compiled statement's line number is left in: %q", res.Node, res.Message)
		}
	}
	if len(want) > 0 {
		t.Errorf("not run: %v", want)
	}
}
