package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// TestHooksRunInDBTOrder: on-run-start before every node, a node's
// pre-hooks (dbt_project.yml's first, then its own config()) before it and
// post-hooks after it, each rendered in the node's context, and on-run-end
// last with the run's results and schemas (issue 15).
func TestHooksRunInDBTOrder(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"dbt_project.yml": `name: t
profile: t
on-run-start:
  - "create table if not exists main.audit (seq integer, what varchar)"
  - "insert into main.audit values (1, 'start')"
on-run-end: "insert into main.audit select 9, 'end ' || '{{ results | length }} ' || '{{ schemas | join(',') }}' || ' ' || '{{ results[0].status }}'"
models:
  t:
    +pre-hook: "insert into main.audit values (2, 'project pre {{ this.name }}')"
`,
		"models/orders.sql": `{{ config(materialized='table',
    pre_hook="insert into main.audit values (3, 'own pre')",
    post_hook=["insert into main.audit select 4, 'post ' || count(*) from {{ this }}", "alter table {{ this }} add column checked boolean default true"]) }}
select 1 as id union all select 2`,
	})
	ctx := context.Background()
	run, err := r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
	if err != nil || run.Status != tandem.StatusSuccess {
		for _, res := range run.Nodes {
			t.Logf("%s: %s %s", res.Node, res.Status, res.Message)
		}
		t.Fatalf("build: %v %v %s", err, run.Status, run.Reason)
	}
	rows, err := r.Warehouse.Query(ctx, `select seq, what from main.audit order by seq`, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows.Rows {
		got = append(got, fmtAny(row[0])+" "+fmtAny(row[1]))
	}
	want := "1 start\n2 project pre orders\n3 own pre\n4 post 2\n9 end 1 main success"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("audit:\n%s\nwant:\n%s", g, want)
	}
	if c, err := r.Warehouse.Query(ctx, `select count(*) from main.orders where checked`, 0); err != nil || fmtAny(c.Rows[0][0]) != "2" {
		t.Errorf("post-hook's column: %v %v", c, err)
	}

	// A failing on-run-start stops the run, and every node says why.
	r.Project, err = reload(t, r, "on-run-start: \"select * from no_such_table\"\n")
	if err != nil {
		t.Fatal(err)
	}
	run, _ = r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
	if run.Status != tandem.StatusError || !strings.Contains(run.Reason, "on-run-start hook 1") || run.Nodes[0].Status != tandem.StatusSkipped {
		t.Errorf("a failing on-run-start: status %s, reason %q, node %s", run.Status, run.Reason, run.Nodes[0].Status)
	}
}

// reload rewrites the runner's dbt_project.yml as name and profile plus
// extra, and loads the project again.
func reload(t *testing.T, r *Runner, extra string) (*project.Project, error) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.Project.Dir, "dbt_project.yml"), []byte("name: t\nprofile: t\n"+extra), 0o644); err != nil {
		return nil, err
	}
	return project.Load(r.Project.Dir, project.Options{})
}
