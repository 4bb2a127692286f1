package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem/schedule"
)

func TestFreshness(t *testing.T) {
	recent := time.Now().UTC().Add(-3 * time.Hour).Format(time.DateTime)
	dir := newProject(t, map[string]string{
		"data/orders.csv": "id,loaded_at\n1,2011-01-01 00:00:00\n2," + recent + "\n",
		"models/sources.yml": `version: 2
sources:
  - name: raw
    meta: {owner: ingest@shop.example}
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 2, period: hour}
      error_after: {count: 1, period: day}
    tables:
      - name: orders
        meta: {external_location: "read_csv('data/orders.csv', header = true)"}
      - name: stale
        identifier: orders
        meta: {external_location: "read_csv('data/orders.csv', header = true)"}
        freshness:
          error_after: {count: 1, period: hour}
          filter: id = 1
      - name: unchecked
        meta: {external_location: "read_csv('data/orders.csv', header = true)"}
        freshness: null
`,
		"models/m.sql":      "select * from {{ source('raw', 'orders') }}",
		"models/never.sql":  "select 1 as x",
		"models/schema.yml": "version: 2\nmodels:\n  - name: m\n    config:\n      freshness: {error_after: {count: 1, period: hour}}\n  - name: never\n    config:\n      freshness: {warn_after: {count: 1, period: hour}}\n",
	})
	mustRun(t, "run", "-s", "m", "--project-dir", dir)
	out, _, code := tandemCLI(t, "freshness", "--project-dir", dir, "-o", "json")
	var results []*schedule.FreshnessResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range results {
		got[r.Name] = r.Status + " " + r.Message
	}
	if code != 1 || len(results) != 4 {
		t.Errorf("exit %d, %d results: %v", code, len(results), got)
	}
	for name, want := range map[string]string{
		"raw.orders": "warn last data 3h0m",
		"raw.stale":  "error last data",
		"m":          "pass ",
		"never":      "error never built successfully",
	} {
		if !strings.HasPrefix(got[name], want) {
			t.Errorf("%s: %q, want %q...", name, got[name], want)
		}
	}
	_, errs, code := tandemCLI(t, "ls", "--project-dir", newProject(t, map[string]string{
		"models/sources.yml": "version: 2\nsources:\n  - name: raw\n    freshness: {warn_after: {count: 1, period: hours}}\n    tables: [{name: t}]\n",
	}))
	if code != 2 || !strings.Contains(errs, "models/sources.yml:5: freshness warn_after: period must be minute, hour or day, got \"hours\"") {
		t.Errorf("bad freshness: exit %d %s", code, errs)
	}
}
