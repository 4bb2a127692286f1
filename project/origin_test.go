package project

import (
	"testing"
)

// A bad config value is reported where it was typed: dbt_project.yml's
// folder level, the properties file, or the model's config() call, not the
// model's first line (issue 14, item 13).
func TestConfigErrorsNameWhereTheValueWasTyped(t *testing.T) {
	const dp = "name: p\nprofile: p\nmodels:\n  p:\n    +materialized: view\n    marts:\n      +materialized: tabel\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"folder level of dbt_project.yml", map[string]string{
			"dbt_project.yml":    dp,
			"models/marts/a.sql": "select 1 as id",
		}, `dbt_project.yml:7: materialized="tabel" is not one of view, table, incremental, ephemeral`},
		{"properties file beats dbt_project.yml", map[string]string{
			"dbt_project.yml":    dp,
			"models/marts/a.sql": "select 1 as id",
			"models/marts/p.yml": "version: 2\nmodels:\n  - name: a\n    description: x\n    config:\n      materialized: incremental\n      incremental_strategy: mrege\n",
		}, `models/marts/p.yml:7: incremental_strategy="mrege" is not one of append, merge, delete+insert`},
		{"config() call in the model beats both", map[string]string{
			"dbt_project.yml":    dp,
			"models/marts/a.sql": "-- a model\n{{ config(\n    tags=['x'],\n    materialized='tabel2'\n) }}\nselect 1 as id",
		}, `models/marts/a.sql:4: materialized="tabel2" is not one of view, table, incremental, ephemeral`},
		{"merge without unique_key", map[string]string{
			"models/a.sql": "{{ config(materialized='incremental') }}\nselect 1 as id",
			"models/p.yml": "version: 2\nmodels:\n  - name: a\n    config:\n      incremental_strategy: merge\n",
		}, `models/p.yml:5: incremental_strategy="merge" needs a unique_key`},
		{"model freshness in properties", map[string]string{
			"models/a.sql": "select 1 as id",
			"models/p.yml": "version: 2\nmodels:\n  - name: a\n    description: x\n    config:\n      freshness: 3\n",
		}, `models/p.yml:6: freshness must be a mapping with warn_after and/or error_after`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeProject(t, tc.files), Options{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// A node keeps its own file and line; the line of its properties entry is
// kept apart, so that nothing mixes the .sql file with the .yml line.
func TestNodeKeepsItsFileApartFromItsProperties(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"models/a.sql":    "select 1 as id",
		"models/p.yml":    "version: 2\nmodels:\n  - name: b\n  - name: a\n    description: x\n",
		"models/b.sql":    "select 2 as id",
		"seeds/s.csv":     "id\n1\n",
		"seeds/props.yml": "version: 2\nseeds:\n  - name: s\n    description: y\n",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, s := p.Nodes["model.p.a"], p.Nodes["seed.p.s"]
	if a.Path != "models/a.sql" || a.Line != 1 || a.PropsPath != "models/p.yml" || a.PropsLine != 4 {
		t.Errorf("model a: %s:%d, properties %s:%d; want models/a.sql:1, models/p.yml:4", a.Path, a.Line, a.PropsPath, a.PropsLine)
	}
	if s.Path != "seeds/s.csv" || s.Line != 1 || s.PropsPath != "seeds/props.yml" || s.PropsLine != 3 {
		t.Errorf("seed s: %s:%d, properties %s:%d", s.Path, s.Line, s.PropsPath, s.PropsLine)
	}
}
