package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

// TestIntrospectionWhileCompiling: run_query, statement blocks and
// adapter.get_columns_in_relation reach the warehouse while a model
// compiles, and dbt's cross-database macros render SQL DuckDB runs
// (issue 15).
func TestIntrospectionWhileCompiling(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"seeds/s.csv": "id,kind,amount\n1,a,10\n2,b,20\n3,a,30\n",
		"macros/star.sql": `{% macro my_star(rel) -%}
{%- set cols = adapter.get_columns_in_relation(rel) -%}
{%- for c in cols %}{{ c.quoted }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}`,
		"models/pivot.sql": `{{ config(materialized='table') }}
{%- set kinds = run_query("select distinct kind from " ~ ref('s') ~ " order by 1") -%}
{%- call statement('total', fetch_result=True) %}select sum(amount) from {{ ref('s') }}{% endcall -%}
{%- set total = load_result('total')['data'][0][0] if execute else 0 %}
select {{ my_star(ref('s')) }},
{%- for k in (kinds.columns[0].values() if execute else []) %}
  case when kind = '{{ k }}' then amount end as amount_{{ k }},
{%- endfor %}
  {{ total }} as total,
  {{ dbt.dateadd('day', 1, "date '2011-12-31'") }} as next_day,
  {{ dbt.datediff("date '2011-01-01'", "date '2011-03-01'", 'month') }} as months,
  {{ dbt.safe_cast("'x'", dbt.type_int()) }} as bad_int,
  {{ dbt.concat(["kind", "'-'", "cast(id as " ~ dbt.type_string() ~ ")"]) }} as label
from {{ ref('s') }}`,
	})
	ctx := context.Background()
	run, err := r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
	if err != nil || run.Status != tandem.StatusSuccess {
		for _, res := range run.Nodes {
			t.Logf("%s: %s %s\n%s", res.Node, res.Status, res.Message, res.CompiledSQL)
		}
		t.Fatalf("build: %v %v", err, run.Status)
	}
	rows, err := r.Warehouse.Query(ctx, `select id, kind, amount, amount_a, amount_b, total, next_day::varchar, months, bad_int, label from main.pivot order by id`, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows.Rows {
		parts := make([]string, len(row))
		for i, v := range row {
			if v == nil {
				parts[i] = "null"
			} else {
				parts[i] = strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", ""))
			}
		}
		got = append(got, strings.Join(parts, "|"))
	}
	want := "1|a|10|10|null|60|2012-01-01 00:00:00|2|null|a-1\n2|b|20|null|20|60|2012-01-01 00:00:00|2|null|b-2\n3|a|30|30|null|60|2012-01-01 00:00:00|2|null|a-3"
	if strings.Join(got, "\n") != want {
		t.Errorf("pivot:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }
