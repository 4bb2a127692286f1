// Package dbtcompat lays out the integration-test projects of real dbt
// packages (../shared/dbt-packages) as `dbt deps` leaves them, for the
// compatibility tests of project/ (compile) and pipeline/ (build).
package dbtcompat

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Packages are the packages whose integration projects the suite runs.
var Packages = []string{"dbt_utils", "dbt_date", "dbt_expectations", "audit_helper"}

// Deps are what `dbt deps` installs for each package's integration
// project: the package itself and the packages it depends on.
var Deps = map[string][]string{
	"dbt_utils":        {"dbt_utils"},
	"dbt_date":         {"dbt_date"},
	"dbt_expectations": {"dbt_expectations", "dbt_date"},
	"audit_helper":     {"audit_helper", "dbt_utils"},
}

// Shared is the folder of real dbt packages (../shared/dbt-packages from
// the repository root). Without it the test skips with the reason: shared
// material sits next to the repository, and a clone elsewhere has none.
func Shared(t testing.TB) string {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "..", "shared", "dbt-packages")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/dbt-packages is absent: the dbt package compatibility suite does not run")
	}
	return dir
}

// Project copies pkg's integration_tests unchanged into a temporary folder,
// links the packages it depends on under dbt_packages/, and points
// DBT_PROFILES_DIR at a DuckDB profile (some of these projects' own
// profiles have no DuckDB target; a user's own profiles give one, as with
// dbt). It returns the project folder.
func Project(t testing.TB, shared, pkg string) string {
	dir := t.TempDir()
	src := filepath.Join(shared, pkg, "integration_tests")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// packages.yml says local: ../, which is the package itself; dbt deps
	// installs it (and its dependencies) in dbt_packages/.
	if err := os.WriteFile(filepath.Join(dir, "packages.yml"), []byte("packages: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dbt_packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dep := range Deps[pkg] {
		if err := os.Symlink(filepath.Join(shared, dep), filepath.Join(dir, "dbt_packages", dep)); err != nil {
			t.Fatal(err)
		}
	}
	prof := t.TempDir()
	if err := os.WriteFile(filepath.Join(prof, "profiles.yml"), []byte("integration_tests:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n      path: "+filepath.Join(dir, "it.duckdb")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBT_PROFILES_DIR", prof)
	return dir
}
