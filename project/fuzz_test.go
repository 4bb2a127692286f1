package project

import (
	"testing"
)

// The loaders take user files; no input may panic them. Run with
//
//	go test ./project -run '^$' -fuzz FuzzTemplate -fuzztime 3m
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"select 1",
		"{% set xs = ['a','b'] %}{% for x in xs %}{{ x }}{{ ',' if not loop.last }}{% endfor %}",
		"{{ config(materialized='table') }}select * from {{ ref('a') }}",
		"{#- c -#}{% if is_incremental() %}x{% else %}y{% endif %}",
		"{% macro m(a, b=2) %}{{ return([a, b]) }}{% endmacro %}{{ m(1)[0] }}",
		"{{ var('x', 1) }} {{ this }} {{ this.schema }} {{ source('s', 't') }}",
		"{% for i in range(3) %}{{ i }}{% endfor %}{{ 'a' ~ 'b' | upper }}",
		"{{ ", "{% if %}", "{% for %}{% endfor %}", "{{ a.b.c() }}",
	} {
		f.Add(s)
	}
	p, err := Load(writeProject(f, map[string]string{
		"models/a.sql":      "select 1 as id",
		"models/schema.yml": "version: 2\nsources:\n  - name: s\n    tables:\n      - name: t\n",
	}), Options{})
	if err != nil {
		f.Fatal(err)
	}
	n, _ := p.ByName("a")
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := parseTemplate("models/x.sql", 1, src)
		if err != nil {
			return
		}
		rc := &renderCall{p: p, n: n, mode: parseMode, depSeen: map[string]bool{}, config: map[string]any{}}
		_, _ = tpl.Render(rc.globals(), p.macros)
	})
}

// go test ./project -run '^$' -fuzz FuzzSchemaYAML -fuzztime 3m
func FuzzSchemaYAML(f *testing.F) {
	for _, s := range []string{
		"version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests: [unique, {accepted_values: {values: [1]}}]\n",
		"sources:\n  - name: s\n    tables:\n      - name: t\n        meta: {external_location: x}\n",
		"models: [{name: a, descripton: x}]",
		"a: &x [*x]", "- - -", "models:\n  - name: [1, 2]\n", "{{", "version: 2\nmodels: 3\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var sf schemaFile
		_, _ = decodeStrict("models/x.yml", src, &sf)
		var dp dbtProject
		_, _ = decodeStrict("dbt_project.yml", src, &dp)
		var st Settings
		_, _ = decodeStrict("tandem.yaml", src, &st)
	})
}

// go test ./project -run '^$' -fuzz FuzzSeed -fuzztime 1m
func FuzzSeed(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\n\"x\n", "a,a\n", "\xff\n", "a,b\n1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := ParseSeed("seeds/x.csv", src, nil)
		if err == nil && len(s.Columns) == 0 {
			t.Fatal("a seed without columns was accepted")
		}
	})
}
