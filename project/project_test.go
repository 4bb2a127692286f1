package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

// writeProject writes files (path -> content) into a new project folder.
func writeProject(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["dbt_project.yml"]; !ok {
		files["dbt_project.yml"] = "name: p\nversion: '1'\nconfig-version: 2\nprofile: p\n"
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // the whole error, file:line included
	}{
		{"unknown key in tandem.yaml", map[string]string{
			"tandem.yaml": "keep_version: 2\n",
		}, `tandem.yaml:1: unknown key "keep_version"; did you mean "keep_versions"?`},
		{"malformed YAML", map[string]string{
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n   columns: []\n",
		}, `models/schema.yml:2: invalid YAML: did not find expected '-' indicator`},
		{"Jinja syntax error", map[string]string{
			"models/a.sql": "select 1\n{% if true %}\nfrom x\n",
		}, `models/a.sql:4: Jinja syntax error: unexpected end of template: expected 'elif' or 'else' or 'endif' for the block opened at line 2`},
		{"undefined name", map[string]string{
			"models/a.sql": "select 1 as id",
			"models/b.sql": "select *\nfrom {{ reff('a') }}",
		}, `models/b.sql:2: "reff" is undefined; did you mean "ref"?`},
		{"ref to a missing model", map[string]string{
			"models/customers.sql": "select 1 as id",
			"models/b.sql":         "-- orders\n\nselect * from {{ ref('custmers') }}",
		}, `models/b.sql:3: ref('custmers'): no model or seed named "custmers"; did you mean "customers"?`},
		{"cycle in refs", map[string]string{
			"models/a.sql": "select * from {{ ref('c') }}",
			"models/b.sql": "select * from {{ ref('a') }}",
			"models/c.sql": "select * from {{ ref('b') }}",
		}, `models/a.sql:1: ref cycle: a -> b -> c -> a; a model cannot depend on itself, directly or through others`},
		{"two models with the same name", map[string]string{
			"models/a.sql":       "select 1",
			"models/other/a.sql": "select 2",
		}, `models/other/a.sql:1: two nodes are named "a": models/a.sql and models/other/a.sql; rename one (names must be unique across models and seeds)`},
		{"a model and a seed with the same name", map[string]string{
			"models/a.sql": "select 1",
			"seeds/a.csv":  "x\n1\n",
		}, `seeds/a.csv:1: two nodes are named "a": models/a.sql and seeds/a.csv; rename one (names must be unique across models and seeds)`},
		{"unknown generic test", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests: [uniqe]\n",
		}, `models/schema.yml:5: unknown test "uniqe"; did you mean "unique"?`},
		{"accepted_values without values", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests:\n          - accepted_values: {quote: false}\n",
		}, `models/schema.yml:5: accepted_values on a.id needs values: [a list]`},
		{"missing var at compile time is allowed at parse", map[string]string{
			"models/a.sql": "select {{ var('x', 1) }} as id",
		}, ``},
		{"bad materialization", map[string]string{
			"models/a.sql": "{{ config(materialized='tabel') }}select 1",
		}, `models/a.sql:1: materialized="tabel" is not one of view, table, incremental, ephemeral`},
		{"merge without unique_key", map[string]string{
			"models/a.sql": "{{ config(materialized='incremental', incremental_strategy='merge') }}select 1",
		}, `models/a.sql:1: incremental_strategy="merge" needs a unique_key`},
		{"source not declared", map[string]string{
			"models/a.sql": "select * from {{ source('raw', 'orders') }}",
		}, `models/a.sql:1: source('raw', 'orders'): no such source table; sources are declared under sources: in a models/*.yml file`},
		{"invalid UTF-8 in a model", map[string]string{
			"models/a.sql": "select 1\n-- caf\xe9\n",
		}, `models/a.sql:2: not valid UTF-8 text; save the file as UTF-8`},
		{"error inside a macro", map[string]string{
			"macros/m.sql": "{% macro pct(col) %}\n  {{ col }} * {{ hundred }}\n{% endmacro %}",
			"models/a.sql": "select\n  {{ pct('x') }} as p",
		}, `models/a.sql:2: in macro pct (macros/m.sql:2): "hundred" is undefined`},
		{"python model", map[string]string{
			"models/a.py": "def model(dbt, session): pass",
		}, `models/a.py:1: Python models are not supported by Tandem; rewrite it as a SQL model or move it out of models`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeProject(t, tc.files), Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("code = %s, want invalid", tandem.ErrorCode(err))
			}
		})
	}
}

func TestSeedBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"ragged row", "id,name\n1,a\n2,b,extra\n", `seeds/s.csv:3: wrong number of fields: every row must have as many fields as the header`},
		{"bad encoding", "id,name\n1,caf\xe9\n", `seeds/s.csv:2: not valid UTF-8 text; save the file as UTF-8 (for example: iconv -f latin1 -t utf-8)`},
		{"duplicate header", "id,ID\n1,2\n", `seeds/s.csv:1: column "ID" appears twice in the header`},
		{"empty", "", `seeds/s.csv:1: empty seed: the first line must name the columns`},
		{"unterminated quote", "id,name\n1,\"abc\n", `seeds/s.csv:2: extraneous or missing " in quoted-field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeed("seeds/s.csv", []byte(tc.csv), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestSeedTypeInference(t *testing.T) {
	s, err := ParseSeed("s.csv", []byte("i,d,day,ts,b,s,mixed,empty\n1,1.5,2011-01-02,2011-01-02 10:00:00,true,x,1,\n-2,3,2011-02-03,2011-01-02T10:00:00Z,False,y,a,\n"),
		map[string]string{"s": "TEXT"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN", "TEXT", "VARCHAR", "VARCHAR"}
	for i, c := range s.Columns {
		if c.Type != want[i] {
			t.Errorf("column %s: type %s, want %s", c.Name, c.Type, want[i])
		}
	}
	if s.Rows[0][7] != nil {
		t.Errorf("empty field should be NULL")
	}
	if _, err := ParseSeed("s.csv", []byte("a\n1\n"), map[string]string{"b": "int"}); err == nil || !strings.Contains(err.Error(), `column_types names "b"`) {
		t.Errorf("column_types on a missing column: %v", err)
	}
}

// TestAcceptsWhatDBTAccepts: keys Tandem does not know, duplicate keys and
// profiles of other adapters are warnings at most, as in dbt (issue 15).
func TestAcceptsWhatDBTAccepts(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"dbt_project.yml": "name: p\nprofile: p\nmodel-path: [models]\ndbt-cloud:\n  project-id: 7\nname: p\n",
		"profiles.yml": `config:
  send_anonymous_usage_stats: false
p:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('TANDEM_TEST_DB', 'dev.duckdb') }}"
      threads: "{{ 2 | as_number }}"
      schema: main
      custom_adapter_key: 1
    prod:
      type: postgres
      host: "{{ env_var('PG_HOST') }}"
      port: "{{ env_var('PG_PORT') | as_number }}"
      user: x
other_project:
  outputs:
    bq: {type: bigquery, method: oauth, keyfile: "{{ env_var('KEYFILE') }}"}
`,
		"models/a.sql":      "select 1 as id",
		"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    descripton: typo\n    time_spine: {standard_granularity_column: id}\n",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Target.Threads != 2 || !strings.HasSuffix(p.Target.Path, "dev.duckdb") {
		t.Errorf("target: %+v", p.Target)
	}
	got := strings.Join(p.Warnings, "\n")
	for _, want := range []string{
		`models/schema.yml:4: unknown key "models[0].descripton"; did you mean "description"?; Tandem ignores it`,
		`dbt_project.yml:3: unknown key "model-path"; did you mean "model-paths"?`,
		`dbt_project.yml:1: key "name" is given twice (again at line 6); the later one wins, as in dbt`,
		`profiles.yml:11: unknown key "p.outputs.dev.custom_adapter_key"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"dbt-cloud", "prod", "other_project", "time_spine"} {
		if strings.Contains(got, bad) {
			t.Errorf("a warning names %q, which dbt accepts silently:\n%s", bad, got)
		}
	}
}

func TestWarnsAboutWhatItDoesNotRun(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"dbt_project.yml":   "name: p\nprofile: p\non-run-end: [\"select 1\"]\n",
		"packages.yml":      "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.4.1\n",
		"models/a.sql":      "{{ config(post_hook='grant select on {{ this }} to x') }}select 1",
		"models/schema.yml": "version: 2\nmodels:\n  - name: gone\n",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.Warnings, "\n")
	for _, want := range []string{
		`models/schema.yml:3: properties for "gone", but no model of that name exists`,
		"packages not installed in dbt_packages/: dbt-labs/dbt_utils; run `dbt deps`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}
