package project

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

func TestTemplating(t *testing.T) {
	t.Setenv("TANDEM_TEST_SCHEMA", "analytics")
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": `name: p
profile: p
vars:
  min_amount: 10
models:
  p:
    +materialized: table
    +tags: [nightly]
    +owner: everyone
    staging:
      +materialized: view
      +schema: stg
      +tags: [raw]
`,
		"macros/m.sql": `{% macro methods() %}{{ return(['card', 'cash']) }}{% endmacro %}
{% macro default__limit_clause(n) %}limit {{ n }}{% endmacro %}
{% macro limit_clause(n) %}{{ return(adapter.dispatch('limit_clause')(n)) }}{% endmacro %}
{% macro cents(col, scale=2) -%}({{ col }} / 100)::decimal(16, {{ scale }}){%- endmacro %}`,
		"models/docs.md":             "{% docs amount %}The **amount** paid.{% enddocs %}",
		"models/staging/stg_pay.sql": "select 1 as id, 250 as amount_cents, 'card' as method",
		"models/eph.sql":             "{{ config(materialized='ephemeral') }}select * from {{ ref('stg_pay') }} where amount_cents >= {{ var('min_amount') }}",
		"models/pay.sql": `{{ config(unique_key='id', tags=['finance'], meta={'owner': 'ana'}) }}
{%- set ms = methods() %}
select id,
{%- for m in ms %}
  sum(case when method = '{{ m }}' then {{ cents('amount_cents', scale=4) }} end) as {{ m }}_amount{{ "," if not loop.last }}
{%- endfor %}
from {{ ref('eph') }} -- {{ this.schema }}.{{ this.name }} {{ env_var('TANDEM_TEST_SCHEMA') }} {{ var('missing', 'dflt') }}
group by id {{ limit_clause(5) }}`,
		"models/schema.yml": "version: 2\nmodels:\n  - name: pay\n    description: '{{ doc(\"amount\") }}'\n    columns:\n      - name: id\n        description: The id.\n  - name: stg_pay\n    meta: {owner: ops}\n",
	})
	p, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pay, _ := p.ByName("pay")
	stg, _ := p.ByName("stg_pay")
	if pay.Materialized != tandem.Table || stg.Materialized != tandem.View {
		t.Errorf("materialized: pay=%s stg=%s", pay.Materialized, stg.Materialized)
	}
	if got := p.SchemaOf(stg); got != "main_stg" {
		t.Errorf("custom schema: %s, want main_stg", got)
	}
	if !reflect.DeepEqual(stg.Tags, []string{"nightly", "raw"}) || !reflect.DeepEqual(pay.Tags, []string{"nightly", "finance"}) {
		t.Errorf("tags: stg=%v pay=%v", stg.Tags, pay.Tags)
	}
	if pay.Owner != "ana" || stg.Owner != "ops" || !reflect.DeepEqual(pay.UniqueKey, []string{"id"}) {
		t.Errorf("owners %q, %q (want ana, ops), unique_key=%v", pay.Owner, stg.Owner, pay.UniqueKey)
	}
	if pay.Description != "The **amount** paid." {
		t.Errorf("doc(): %q", pay.Description)
	}
	sql, err := p.Compile(pay.ID, CompileContext{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`with __dbt__cte__eph as (` + "\n" + `select * from "main_stg"."stg_pay" where amount_cents >= 10` + "\n)",
		`sum(case when method = 'card' then (amount_cents / 100)::decimal(16, 4) end) as card_amount,`,
		`sum(case when method = 'cash' then (amount_cents / 100)::decimal(16, 4) end) as cash_amount` + "\nfrom __dbt__cte__eph",
		`-- main.pay analytics dflt`,
		`group by id limit 5`,
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("compiled SQL lacks %q:\n%s", want, sql)
		}
	}
	// --vars wins over dbt_project.yml.
	p2, err := Load(dir, Options{Vars: map[string]any{"min_amount": 99}})
	if err != nil {
		t.Fatal(err)
	}
	sql, _ = p2.Compile(pay.ID, CompileContext{})
	if !strings.Contains(sql, ">= 99") {
		t.Errorf("--vars not applied:\n%s", sql)
	}
}

func TestIsIncremental(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"models/events.sql": "{{ config(materialized='incremental') }}select 1 as id{% if is_incremental() %} where id > (select max(id) from {{ this }}){% endif %}",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := p.ByName("events")
	for _, tc := range []struct {
		cc   CompileContext
		want bool
	}{
		{CompileContext{}, false},
		{CompileContext{Exists: true}, true},
		{CompileContext{Exists: true, FullRefresh: true}, false},
	} {
		sql, err := p.Compile(n.ID, tc.cc)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(sql, `from "main"."events"`); got != tc.want {
			t.Errorf("%+v: is_incremental() = %v, want %v", tc.cc, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"models/a.sql": "select 1\n\nfrom {{ var('nope') }}",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a": `models/a.sql:3: var('nope') is not set: add it under vars: in dbt_project.yml, pass --vars '{nope: ...}', or give a default: var('nope', ...)`,
	} {
		n, _ := p.ByName(name)
		if _, err := p.Compile(n.ID, CompileContext{}); err == nil || err.Error() != want {
			t.Errorf("%s:\n got: %v\nwant: %s", name, err, want)
		}
	}
	// env_var() is read when the project loads, as dbt does.
	_, err = Load(writeProject(t, map[string]string{"models/b.sql": "select {{ env_var('TANDEM_SURELY_UNSET_VAR') }}"}), Options{})
	for _, want := range []string{
		`models/b.sql:1: env var "TANDEM_SURELY_UNSET_VAR" is not set and env_var() was given no default; set it or pass a default: env_var("TANDEM_SURELY_UNSET_VAR", 'value')`,
	} {
		if err == nil || err.Error() != want {
			t.Errorf("env_var:\n got: %v\nwant: %s", err, want)
		}
	}
}

func TestSelect(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"seeds/raw.csv":        "id\n1\n",
		"models/stg/stg_a.sql": "{{ config(tags=['daily']) }}select * from {{ ref('raw') }}",
		"models/b.sql":         "select * from {{ ref('stg_a') }}",
		"models/c.sql":         "select * from {{ ref('b') }}",
		"models/other.sql":     "select 1 as id",
		"models/schema.yml":    "version: 2\nmodels:\n  - name: b\n    columns:\n      - name: id\n        tests: [unique]\nsources:\n  - name: raw\n    tables:\n      - name: events\n        columns:\n          - name: id\n            tests: [not_null]\n",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(sel, excl []string) string {
		ids, err := p.Select(sel, excl, true)
		if err != nil {
			return "error: " + err.Error()
		}
		var out []string
		for _, id := range ids {
			out = append(out, p.Nodes[id].Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		sel, excl []string
		want      string
	}{
		{[]string{"b"}, nil, "b unique_b_id"},
		{[]string{"source:raw"}, nil, "raw.events not_null_source_raw_events_id"},
		{[]string{"+b"}, nil, "raw stg_a b unique_b_id"},
		{[]string{"b+"}, nil, "b c unique_b_id"},
		{[]string{"1+c"}, nil, "b c unique_b_id"},
		{[]string{"tag:daily"}, nil, "stg_a"},
		{[]string{"path:models/stg"}, nil, "stg_a"},
		{[]string{"stg_a+"}, []string{"c"}, "stg_a b unique_b_id"},
		{[]string{"+c,tag:daily"}, nil, "stg_a"},
		{[]string{"b other"}, nil, "other b unique_b_id"},
		{[]string{"bb"}, nil, `error: --select "bb" matches no node; did you mean "b"?`},
	} {
		if got := names(tc.sel, tc.excl); got != tc.want {
			t.Errorf("--select %v --exclude %v = %q, want %q", tc.sel, tc.excl, got, tc.want)
		}
	}
}

func TestJinjaLiterals(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"models/a.sql": "select {{ var('x', none) is none }}, {{ None is none }}, {{ True and true }}, {{ False or false }}",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := p.ByName("a")
	sql, err := p.Compile(n.ID, CompileContext{})
	if err != nil || sql != "select True, True, True, False" {
		t.Errorf("%q %v", sql, err)
	}
}
