package project

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/jinja"
)

// macroSet holds the macros templates can call: the root project's by
// name, each package's under its name, and dbt's own (the "dbt"
// namespace: cross-database macros implemented for DuckDB).
type macroSet struct {
	root     string                             // the root project's name
	byName   map[string]*jinja.Macro            // the root project's macros
	pkgs     map[string]map[string]*jinja.Macro // package name -> macros
	dispatch map[string][]string                // macro_namespace -> search order
}

// internalPackage is the namespace of Tandem's implementation of dbt's
// global macros (dbt.date_trunc, dbt.type_string, ...).
const internalPackage = "dbt"

//go:embed dbtmacros/*.sql
var dbtMacroFS embed.FS

// internalMacros are parsed once per process.
var internalMacros = func() map[string]*jinja.Macro {
	out := map[string]*jinja.Macro{}
	files, _ := fs.Glob(dbtMacroFS, "dbtmacros/*.sql")
	for _, f := range files {
		b, _ := dbtMacroFS.ReadFile(f)
		t, err := jinja.Parse("(tandem)/"+f, string(b), jinja.Options{KeepTrailingNewline: true})
		if err != nil {
			panic(err) // a test parses them; a broken build must not ship
		}
		for name, m := range t.Macros {
			out[name] = m
		}
	}
	return out
}()

// binder binds macros for one render: each once, in its package's scope,
// so a package macro finds its own package's macros by bare name first.
type binder struct {
	// overrides are a unit test's overrides: macros: a call of one of
	// these macros ("name" or "package.name") returns the value given.
	overrides map[string]any
	ms        *macroSet
	r         *jinja.Renderer
	scopes    map[string]*jinja.Scope
	bound     map[string]any // "pkg\x00name" -> bound macro
}

func newBinder(ms *macroSet, r *jinja.Renderer) *binder {
	return &binder{ms: ms, r: r, scopes: map[string]*jinja.Scope{}, bound: map[string]any{}}
}

// macro returns pkg's macro name bound for this render ("" is the root
// project).
func (b *binder) macro(pkg, name string) (any, bool) {
	key := pkg + "\x00" + name
	if v, ok := b.bound[key]; ok {
		return v, v != nil
	}
	if len(b.overrides) > 0 {
		ov, ok := b.overrides[name]
		if pkg != "" && pkg != b.ms.root {
			if v, found := b.overrides[pkg+"."+name]; found {
				ov, ok = v, true
			}
		}
		if ok {
			f := jinja.Func(func(*jinja.Args) (any, error) { return ov, nil })
			b.bound[key] = f
			return f, true
		}
	}
	var m *jinja.Macro
	switch pkg {
	case "", b.ms.root:
		m = b.ms.byName[name]
	case internalPackage:
		m = internalMacros[name]
	default:
		m = b.ms.pkgs[pkg][name]
	}
	if m == nil {
		b.bound[key] = nil
		return nil, false
	}
	var v *jinja.Macro
	if pkg == "" || pkg == b.ms.root {
		v = b.r.Bind(m)
	} else {
		v = b.r.BindIn(m, b.scope(pkg))
	}
	b.bound[key] = v
	return v, true
}

func (b *binder) scope(pkg string) *jinja.Scope {
	if s, ok := b.scopes[pkg]; ok {
		return s
	}
	s := b.r.NewScope(func(name string) (any, bool) { return b.macro(pkg, name) })
	b.scopes[pkg] = s
	return s
}

// global resolves a bare name as dbt does: the root project's macros, then
// dbt's own, then a package's namespace (dbt_utils.star).
func (b *binder) global(name string) (any, bool) {
	if v, ok := b.macro("", name); ok {
		return v, true
	}
	if v, ok := b.macro(internalPackage, name); ok {
		return v, true
	}
	if name == internalPackage {
		return &namespace{b, internalPackage}, true
	}
	if _, ok := b.ms.pkgs[name]; ok {
		return &namespace{b, name}, true
	}
	if name == b.ms.root {
		return &namespace{b, name}, true
	}
	return nil, false
}

// namespace is a package name in a template: its attributes are the
// package's macros.
type namespace struct {
	b   *binder
	pkg string
}

func (n *namespace) Attr(name string) (any, bool) { return n.b.macro(n.pkg, name) }
func (n *namespace) String() string               { return "<namespace " + n.pkg + ">" }

// dispatch implements adapter.dispatch(name, macro_namespace): for each
// package of the search order (the project's dispatch: config, else the
// namespace), duckdb__name then default__name.
func (b *binder) dispatch(a *jinja.Args) (any, error) {
	v, _ := a.Arg(0, "macro_name")
	name := jinja.Str(v)
	nsv, _ := a.Arg(1, "macro_namespace")
	ns := ""
	if nsv != nil {
		if _, undef := nsv.(*jinja.Undefined); !undef {
			ns = jinja.Str(nsv)
		}
	}
	var order []string
	if ns != "" {
		order = b.ms.dispatch[ns]
		if len(order) == 0 {
			order = []string{ns}
		}
	} else {
		order = []string{""}
	}
	for _, pkg := range order {
		for _, prefix := range []string{"duckdb__", "default__"} {
			if pkg == "" {
				if v, ok := b.global(prefix + name); ok {
					return v, nil
				}
				continue
			}
			if v, ok := b.macro(pkg, prefix+name); ok {
				return v, nil
			}
		}
	}
	if ns == "" {
		if v, ok := b.global(name); ok {
			return v, nil
		}
	} else if ns == internalPackage {
		if v, ok := b.macro(internalPackage, name); ok {
			return v, nil
		}
	}
	where := "the project's macros"
	if ns != "" {
		where = "package(s) " + strings.Join(order, ", ")
	}
	return nil, userError("adapter.dispatch: no macro duckdb__%s or default__%s in %s", name, name, where)
}

// packageRef is an entry of packages.yml or dependencies.yml.
type packageRef struct {
	Local    string `yaml:"local"`
	Package  string `yaml:"package"`
	Git      string `yaml:"git"`
	Version  any    `yaml:"version"`
	Revision string `yaml:"revision"`
	Subdir   string `yaml:"subdirectory"`
	Tarball  string `yaml:"tarball"`
	Name     string `yaml:"name"`
	Private  string `yaml:"private"`
	Install  any    `yaml:"install-prerelease"`
	Warn     any    `yaml:"warn-unpinned"`
}

type packagesFile struct {
	Packages []packageRef `yaml:"packages"`
	Projects []any        `yaml:"projects"` // dependencies.yml: cross-project refs
}

// loadPackages reads packages.yml / dependencies.yml and loads the macros
// of every package: local ones from their folder, the others from what
// `dbt deps` (or `tandem deps`) installed under dbt_packages/.
func (p *Project) loadPackages(installDir string) error {
	if installDir == "" {
		installDir = "dbt_packages"
	}
	var refs []packageRef
	for _, f := range []string{"packages.yml", "dependencies.yml"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, f))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return err
		}
		var pf packagesFile
		if _, err := p.decodeLenient(f, b, &pf); err != nil {
			return err
		}
		refs = append(refs, pf.Packages...)
	}
	loaded := map[string]string{} // name -> dir
	load := func(dir string) error {
		name, err := p.loadPackage(dir)
		if err != nil {
			return err
		}
		if name != "" {
			loaded[name] = dir
		}
		return nil
	}
	for _, r := range refs {
		if r.Local != "" {
			dir := r.Local
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(p.Dir, dir)
			}
			if err := load(dir); err != nil {
				return err
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(p.Dir, installDir))
	for _, e := range entries {
		dir := filepath.Join(p.Dir, installDir, e.Name())
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() { // dbt deps may leave symlinks
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "dbt_project.yml")); err != nil {
			continue
		}
		if err := load(dir); err != nil {
			return err
		}
	}
	var missing []string
	for _, r := range refs {
		if r.Local != "" {
			continue
		}
		id := firstNonEmpty(r.Package, r.Git, r.Tarball, r.Private, r.Name)
		short := id[strings.LastIndexAny(id, "/:")+1:]
		short = strings.TrimSuffix(short, ".git")
		found := false
		for name := range loaded {
			if name == short || strings.ReplaceAll(short, "-", "_") == name || strings.HasSuffix(strings.ReplaceAll(short, "-", "_"), name) {
				found = true
			}
		}
		if !found {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		p.Warnings = append(p.Warnings, "packages not installed in "+installDir+"/: "+strings.Join(missing, ", ")+"; run `dbt deps` (Tandem reads what it installs), or `tandem deps` for local and git packages")
	}
	return nil
}

// loadPackage loads the macros of the package in dir and returns its name.
func (p *Project) loadPackage(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "dbt_project.yml"))
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "package folder %s has no dbt_project.yml: %v", dir, err)
	}
	var dp dbtProject
	rel, _ := filepath.Rel(p.Dir, filepath.Join(dir, "dbt_project.yml"))
	var sink []string
	if _, err := decodeYAML(rel, b, &dp, func(file string, line int, msg string) { sink = append(sink, msg) }); err != nil {
		return "", err
	}
	if dp.Name == "" || dp.Name == p.Name {
		return "", nil
	}
	if _, dup := p.macros.pkgs[dp.Name]; dup {
		return dp.Name, nil
	}
	macros := map[string]*jinja.Macro{}
	paths := dp.MacroPaths
	if len(paths) == 0 {
		paths = []string{"macros"}
	}
	for _, mp := range paths {
		root := filepath.Join(dir, mp)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".sql") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			relf, _ := filepath.Rel(p.Dir, path)
			t, err := parseTemplate(relf, 1, string(src))
			if err != nil {
				return err
			}
			for name, m := range t.tpl.Macros {
				macros[name] = m
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	p.macros.pkgs[dp.Name] = macros
	return dp.Name, nil
}

// parseDispatch reads dbt_project.yml's dispatch: list.
func parseDispatch(v any) map[string][]string {
	out := map[string][]string{}
	list, _ := v.([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		ns, _ := m["macro_namespace"].(string)
		order, _ := m["search_order"].([]any)
		for _, o := range order {
			if s, ok := o.(string); ok {
				out[ns] = append(out[ns], s)
			}
		}
	}
	return out
}

// testMacro finds the macro of generic test name: in pkg when given, else
// in the project, then in the packages (dbt resolves test names across
// packages). It returns the package that defines it ("" for the project).
func (ms *macroSet) testMacro(pkg, name string) (string, bool) {
	m := "test_" + name
	switch pkg {
	case "", ms.root:
		if _, ok := ms.byName[m]; ok {
			return "", true
		}
		if pkg != "" {
			return "", false
		}
	default:
		_, ok := ms.pkgs[pkg][m]
		return pkg, ok
	}
	names := make([]string, 0, len(ms.pkgs))
	for n := range ms.pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := ms.pkgs[n][m]; ok {
			return n, true
		}
	}
	return "", false
}

// macroOf returns the macro of a generic test found by testMacro.
func (ms *macroSet) macroOf(pkg, name string) *jinja.Macro {
	if pkg == "" {
		return ms.byName["test_"+name]
	}
	return ms.pkgs[pkg]["test_"+name]
}
