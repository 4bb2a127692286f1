// Package examples holds the example projects that ship in the tandem
// binary, and writes them out for `tandem init --example` and quickstart.
package examples

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/tandem-data/tandem"
)

//go:embed all:shop all:starter
var files embed.FS

// Names lists the example projects.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Write copies example name into dir, which must not hold a project yet.
func Write(name, dir string) error {
	root, err := fs.Sub(files, name)
	if err != nil {
		return err
	}
	if _, err := fs.Stat(files, name); err != nil {
		return tandem.Errorf(tandem.ENOTFOUND, "no example named %q; examples: %v", name, Names())
	}
	if _, err := os.Stat(filepath.Join(dir, "dbt_project.yml")); err == nil {
		return tandem.Errorf(tandem.ECONFLICT, "%s already holds a project (dbt_project.yml exists); choose another folder", dir)
	}
	return fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(root, path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
