package project

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedPackages is the folder of real dbt packages the compatibility
// suite reads (../shared/dbt-packages from the repository root).
func sharedPackages(t testing.TB) string {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "shared", "dbt-packages"))
	if _, err := os.Stat(dir); err != nil {
		msg := "../shared/dbt-packages is absent: the dbt package compatibility suite does not run"
		// Shared material sits next to the repository (../shared); a clone
		// elsewhere has none, and that is not a failure of the code.
		t.Skip(msg)
	}
	return dir
}

// packageDeps are what `dbt deps` installs for each package's integration
// project: the package itself and the packages it depends on.
var packageDeps = map[string][]string{
	"dbt_utils":        {"dbt_utils"},
	"dbt_date":         {"dbt_date"},
	"dbt_expectations": {"dbt_expectations", "dbt_date"},
	"audit_helper":     {"audit_helper", "dbt_utils"},
}

// integrationProject lays out a package's integration_tests as `dbt deps`
// leaves it: the project unchanged, the packages under dbt_packages/.
func integrationProject(t testing.TB, shared, pkg string) string {
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
	for _, dep := range packageDeps[pkg] {
		if err := os.MkdirAll(filepath.Join(dir, "dbt_packages"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(shared, dep), filepath.Join(dir, "dbt_packages", dep)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadsPast is, for each integration project that does not load yet, the
// file:line prefix where loading stops today. It is a ratchet: a project
// that stops earlier (another file, or a regression) fails the test; when
// one goes further, move its entry forward (or delete it once it loads).
var loadsPast = map[string]string{}

// compilesAtLeast is, for projects that load, how many of their models and
// tests compile without a warehouse today (a ratchet, as loadsPast).
// The rest need query results (run_query, get_columns_in_relation on a
// built table), which a compile without a warehouse does not have; the
// build test in pipeline/ runs them.
var compilesAtLeast = map[string]int{
	"dbt_utils":        158,
	"dbt_date":         73,
	"dbt_expectations": 164,
	"audit_helper":     26,
}

// TestPackageIntegrationProjectsCompile loads each package's integration
// project and compiles every model and test, reporting what fails.
func TestPackageIntegrationProjectsCompile(t *testing.T) {
	shared := sharedPackages(t)
	for _, pkg := range []string{"dbt_utils", "dbt_date", "dbt_expectations", "audit_helper"} {
		t.Run(pkg, func(t *testing.T) {
			dir := integrationProject(t, shared, pkg)
			// Some of these projects' profiles.yml have no DuckDB target: a
			// user's own profiles (DBT_PROFILES_DIR) give one, as with dbt.
			prof := t.TempDir()
			if err := os.WriteFile(filepath.Join(prof, "profiles.yml"), []byte("integration_tests:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n      path: "+filepath.Join(dir, "it.duckdb")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DBT_PROFILES_DIR", prof)
			p, err := Load(dir, Options{})
			if err != nil {
				want, known := loadsPast[pkg]
				if !known || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("load stops at: %v\n(the last known stop: %q)", err, want)
				}
				t.Logf("%s does not load yet: %v", pkg, err)
				return
			}
			if want, known := loadsPast[pkg]; known {
				t.Errorf("%s now loads past %q: remove its loadsPast entry", pkg, want)
			}
			var ok, bad int
			var fails []string
			ids := append([]string(nil), p.Order...)
			sort.Strings(ids)
			for _, id := range ids {
				n := p.Nodes[id]
				if n.Kind == "source" || n.Kind == "seed" {
					continue
				}
				if _, err := p.Compile(id, CompileContext{}); err != nil {
					bad++
					fails = append(fails, err.Error())
					continue
				}
				ok++
			}
			t.Logf("%s: %d of %d models and tests compile", pkg, ok, ok+bad)
			if ok < compilesAtLeast[pkg] {
				t.Errorf("%s: %d compile, fewer than the %d that did", pkg, ok, compilesAtLeast[pkg])
			}
			for _, f := range fails {
				t.Log("  " + f)
			}
		})
	}
}
