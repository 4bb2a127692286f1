package examples

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// GenerateWide writes a project of n models in folders of 100, each
// referring to one to three earlier models, with config(), a for-loop and
// a schema.yml per folder; the shape of a large dbt project.
func GenerateWide(dir string, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	files := map[string]string{
		"dbt_project.yml": "name: wide\nprofile: wide\nmodels:\n  wide:\n    +materialized: view\n",
		"seeds/base.csv":  "id,v\n1,10\n2,20\n",
		"macros/m.sql":    "{% macro plus(col, n=1) %}({{ col }} + {{ n }}){% endmacro %}\n",
	}
	var yml strings.Builder
	for i := 0; i < n; i++ {
		folder := fmt.Sprintf("models/f%03d", i/100)
		var refs []string
		if i == 0 {
			refs = []string{"base"}
		} else {
			for k := 0; k < 1+r.IntN(3); k++ {
				refs = append(refs, fmt.Sprintf("m%05d", r.IntN(i)))
			}
		}
		var b strings.Builder
		if i%10 == 0 {
			b.WriteString("{{ config(materialized='table', tags=['t" + fmt.Sprint(i%7) + "']) }}\n")
		}
		b.WriteString("{% set cols = ['id', 'v'] %}\nselect {% for c in cols %}x.{{ c }}{{ ', ' if not loop.last }}{% endfor %}, {{ plus('x.v') }} as w\n")
		fmt.Fprintf(&b, "from {{ ref('%s') }} as x\n", refs[0])
		for k, ref := range refs[1:] {
			fmt.Fprintf(&b, "join {{ ref('%s') }} as y%d using (id)\n", ref, k)
		}
		files[fmt.Sprintf("%s/m%05d.sql", folder, i)] = b.String()
		if i%100 == 0 {
			yml.Reset()
			yml.WriteString("version: 2\nmodels:\n")
		}
		fmt.Fprintf(&yml, "  - name: m%05d\n    description: Model %d.\n    columns:\n      - name: id\n        tests: [not_null]\n", i, i)
		if i%100 == 99 || i == n-1 {
			files[folder+"/schema.yml"] = yml.String()
		}
	}
	return writeAll(dir, files)
}

// GenerateChain writes n one-row table models, each selecting from the
// previous one: the shape that measures per-node orchestration overhead.
func GenerateChain(dir string, n int) error {
	files := map[string]string{
		"dbt_project.yml":   "name: chain\nprofile: chain\nmodels:\n  chain:\n    +materialized: table\n",
		"models/c00000.sql": "select 0 as n",
	}
	for i := 1; i < n; i++ {
		files[fmt.Sprintf("models/c%05d.sql", i)] = fmt.Sprintf("select n + 1 as n from {{ ref('c%05d') }}", i-1)
	}
	return writeAll(dir, files)
}

func writeAll(dir string, files map[string]string) error {
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
