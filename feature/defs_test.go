package feature

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-data/tandem/project"
)

func loadProject(t *testing.T, featuresYAML string) (*project.Project, error) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"dbt_project.yml":   "name: p\nversion: '1'\nconfig-version: 2\nprofile: p\n",
		"models/stats.sql":  "select 1::BIGINT as customer_id, now()::TIMESTAMP as ts, 2.5::DOUBLE as spend, 'x' as tier",
		"features/shop.yml": featuresYAML,
	}
	for name, body := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	return project.Load(dir, project.Options{})
}

const goodFeatures = `entities:
  - {name: customer, join_keys: [customer_id]}
feature_views:
  - name: stats
    entities: [customer]
    source: stats
    timestamp_field: ts
    ttl: 30d
    features:
      - {name: spend, type: float64}
      - {name: tier, type: string}
feature_services:
  - {name: svc, features: [stats]}
`

// TestDefinitionErrors: each mistake in features/*.yml names its file,
// its line and what to do.
func TestDefinitionErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(goodFeatures, "ttl: 30d", "ttl: 30d\n    colour: red", 1), `features/shop.yml:9: unknown key "feature_views[0].colour"`},
		{strings.Replace(goodFeatures, "entities: [customer]", "entities: [custmer]", 1), `features/shop.yml:4: feature view "stats": unknown entity "custmer"; did you mean "customer"?`},
		{strings.Replace(goodFeatures, "source: stats", "source: stat", 1), `features/shop.yml:4: feature view "stats": source "stat" is not a model or seed of the project; did you mean "stats"?`},
		{strings.Replace(goodFeatures, "type: string}", "type: text}", 1), `features/shop.yml:11: feature view "stats": feature "tier": type "text" is not one of`},
		{strings.Replace(goodFeatures, "{name: tier, type: string}", "{name: spend, type: string}", 1), `features/shop.yml:11: feature view "stats": feature "spend" is listed twice`},
		{goodFeatures + "  - {name: svc, features: [stats]}\n", `features/shop.yml:14: feature service "svc" is defined twice (also features/shop.yml:13)`},
		{strings.Replace(goodFeatures, "features: [stats]}", "features: [stats:spent]}", 1), `features/shop.yml:13: feature service "svc": feature view "stats" has no feature "spent"; did you mean "spend"?`},
		{strings.Replace(goodFeatures, "ttl: 30d", "ttl: a month", 1), `features/shop.yml:4: feature view "stats": ttl: "a month" is not a duration like 30d, 12h or 90m`},
	} {
		p, err := loadProject(t, tc.yaml)
		if err == nil {
			_, err = Load(p)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// TestDefinitionsCheckedAgainstTheWarehouse: unknown columns and type
// mismatches are found where they are written.
func TestDefinitionsCheckedAgainstTheWarehouse(t *testing.T) {
	w := openWarehouse(t)
	exec(t, w, "create table stats as select 1::BIGINT as customer_id, now()::TIMESTAMP as ts, 2.5::DOUBLE as spend, 'x' as tier")
	for _, tc := range []struct{ yaml, want string }{
		{goodFeatures, ""},
		{strings.Replace(goodFeatures, "{name: tier, type: string}", "{name: teir, type: string}", 1), `features/shop.yml:11: feature view "stats": feature "teir" is not a column of "main"."stats"; did you mean "tier"?`},
		{strings.Replace(goodFeatures, "{name: spend, type: float64}", "{name: spend, type: int64}", 1), `features/shop.yml:10: feature view "stats": feature "spend" is declared int64 but column "main"."stats".spend is DOUBLE`},
		{strings.Replace(goodFeatures, "timestamp_field: ts", "timestamp_field: tier", 1), `feature view "stats": timestamp_field "tier" is VARCHAR, not a timestamp or date`},
	} {
		p, err := loadProject(t, tc.yaml)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		err = reg.Check(context.Background(), w)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("got %v\nwant %q", err, tc.want)
		}
	}
}
