package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

// TestProjectNamingAndConfigByName: the project's generate_schema_name and
// generate_alias_name decide where models are built, Jinja in
// dbt_project.yml renders, and config given to one model or seed by name in
// dbt_project.yml applies to it (a seed's column_types keeps "007" a string,
// another seed's delimiter is "|")
// (issue 15).
func TestProjectNamingAndConfigByName(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"dbt_project.yml": `name: t
profile: t
models:
  t:
    +materialized: view
    staging:
      +schema: "{{ 'stg' if target.name == 'dev' else 'prod_stg' }}"
      stg_orders:
        +materialized: table
        +alias: orders_clean
seeds:
  t:
    codes:
      +column_types:
        code: varchar
    pipes:
      +delimiter: "|"
`,
		"macros/naming.sql": `{% macro generate_schema_name(custom_schema_name, node) -%}
{%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
{%- if custom_alias_name -%}{{ custom_alias_name | trim }}{%- else -%}{{ node.name }}{%- endif -%}
{%- endmacro %}`,
		"seeds/codes.csv":               "code,label\n007,bond\n042,answer\n",
		"seeds/pipes.csv":               "a|b\n1|x,y\n",
		"models/staging/stg_orders.sql": "select code, label from {{ ref('codes') }}",
		"models/staging/stg_other.sql":  "select 1 as x",
		"models/report.sql":             "select count(*) as n from {{ ref('stg_orders') }}",
	})
	ctx := context.Background()
	run, err := r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
	if err != nil || run.Status != tandem.StatusSuccess {
		for _, res := range run.Nodes {
			t.Logf("%s: %s %s", res.Node, res.Status, res.Message)
		}
		t.Fatalf("build: %v %v", err, run.Status)
	}
	rows, err := r.Warehouse.Query(ctx, `select table_schema, table_name, table_type from information_schema.tables where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2`, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows.Rows {
		got = append(got, fmtAny(row[0])+"."+fmtAny(row[1])+" "+fmtAny(row[2]))
	}
	want := "main.codes BASE TABLE\nmain.pipes BASE TABLE\nmain.report VIEW\nstg.orders_clean BASE TABLE\nstg.stg_other VIEW"
	if g := strings.Join(filterInternal(got), "\n"); g != want {
		t.Errorf("relations:\n%s\nwant:\n%s", g, want)
	}
	v, err := r.Warehouse.Query(ctx, `select code from stg.orders_clean order by code`, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Rows) != 2 || fmtAny(v.Rows[0][0]) != "007" {
		t.Errorf("codes: %v, want 007 kept as a string by the seed's column_types", v.Rows)
	}
	if p, err := r.Warehouse.Query(ctx, `select a, b from main.pipes`, 0); err != nil || len(p.Rows) != 1 || fmtAny(p.Rows[0][1]) != "x,y" {
		t.Errorf("a seed with delimiter '|': %v %v", p, err)
	}
}

// filterInternal drops Tandem's own bookkeeping relations.
func filterInternal(rels []string) []string {
	var out []string
	for _, r := range rels {
		if !strings.Contains(r, "tandem") && !strings.Contains(r, "__") {
			out = append(out, r)
		}
	}
	return out
}
