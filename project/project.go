// Package project loads a Tandem project: a dbt project folder (read
// unchanged) plus Tandem's optional tandem.yaml. It validates every file,
// renders Jinja, and builds the DAG of models, seeds, sources and tests.
//
// It never touches the warehouse: compiling a node needs only the answers to
// a few questions (does the relation exist?) that the caller passes in.
package project

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/jinja"
)

// Project is a loaded, validated project.
type Project struct {
	Dir      string
	Name     string
	Settings Settings
	Target   Target
	Vars     map[string]any
	Nodes    map[string]*tandem.Node
	Order    []string            // every node ID, upstream before downstream
	Children map[string][]string // node ID -> IDs that depend on it
	Docs     map[string]string   // {% docs %} blocks by name
	Warnings []string

	cliVars    map[string]any
	onRun      map[string][]any  // on-run-start, on-run-end hooks of dbt_project.yml
	schemas    map[string]string // node ID -> schema, from the project's generate_schema_name
	unitTests  map[string]*unitTest
	macros     *macroSet
	macroFiles map[string]string            // macro name -> file
	templates  map[string]*Template         // node ID -> parsed SQL template
	byName     map[string]string            // model or seed name -> ID
	sources    map[string]string            // "source.table" -> ID
	disabled   map[string]string            // disabled model name -> file
	origins    map[string]map[string]origin // node ID -> config key -> where it was set
	originsMu  sync.Mutex                   // models are parsed in parallel
	warnMu     sync.Mutex
	dpRoot     *yaml.Node // dbt_project.yml, for line numbers
}

// Target is where the project is built.
type Target struct {
	Name     string
	Path     string // DuckDB file, absolute
	Schema   string // default schema
	Threads  int
	Settings map[string]any
}

// Options change how a project is loaded.
type Options struct {
	Vars   map[string]any // --vars
	Target string         // profiles.yml target; its default when empty
}

// Load reads and validates the project in dir.
func Load(dir string, opts Options) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &Project{
		Dir: abs, Settings: defaultSettings(), Nodes: map[string]*tandem.Node{},
		Docs: map[string]string{}, cliVars: opts.Vars, macros: &macroSet{byName: map[string]*jinja.Macro{}, pkgs: map[string]map[string]*jinja.Macro{}}, macroFiles: map[string]string{}, schemas: map[string]string{}, unitTests: map[string]*unitTest{},
		templates: map[string]*Template{}, byName: map[string]string{}, sources: map[string]string{},
		disabled: map[string]string{},
	}
	var dp dbtProject
	src, err := os.ReadFile(filepath.Join(abs, "dbt_project.yml"))
	if os.IsNotExist(err) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s has no dbt_project.yml: is it a project folder? Create one with `tandem init DIR` or pass --project-dir", dir)
	} else if err != nil {
		return nil, err
	}
	if p.dpRoot, err = p.decodeLenient("dbt_project.yml", src, &dp); err != nil {
		return nil, err
	}
	if dp.Name == "" {
		return nil, tandem.FileErrorf(tandem.EINVALID, "dbt_project.yml", 1, "missing required key \"name\"")
	}
	p.Name = dp.Name
	p.macros.root = dp.Name
	p.macros.dispatch = parseDispatch(dp.Dispatch)
	if err := p.loadSettings(); err != nil {
		return nil, err
	}
	if err := p.loadProfile(dp.Profile, opts.Target); err != nil {
		return nil, err
	}
	// Jinja in dbt_project.yml values ({{ env_var(...) }}, {{ target.name }})
	// renders now that the target is known, as in dbt.
	if p.dpRoot != nil && yamlHasJinja(p.dpRoot) {
		if err := renderYAML("dbt_project.yml", p.dpRoot, yamlGlobals(opts.Vars, p.targetContext())); err != nil {
			return nil, err
		}
		dp = dbtProject{}
		if err := p.dpRoot.Decode(&dp); err != nil {
			return nil, yamlError("dbt_project.yml", err)
		}
	}
	p.Vars = map[string]any{}
	for k, v := range dp.Vars {
		if sub, ok := v.(map[string]any); ok && k == p.Name {
			for k2, v2 := range sub {
				p.Vars[k2] = v2
			}
			continue
		}
		p.Vars[k] = v
	}
	for k, v := range opts.Vars {
		p.Vars[k] = v
	}

	paths := func(given []string, old []string, def string) []string {
		if len(given) > 0 {
			return given
		}
		if len(old) > 0 {
			return old
		}
		return []string{def}
	}
	modelPaths := paths(dp.ModelPaths, dp.SourcePaths, "models")
	seedPaths := paths(dp.SeedPaths, dp.DataPaths, "seeds")
	testPaths := paths(dp.TestPaths, nil, "tests")
	macroPaths := paths(dp.MacroPaths, nil, "macros")
	docsPaths := paths(dp.DocsPaths, nil, "")

	// Packages' macros, then the project's: models and tests call them.
	if err := p.loadPackages(dp.PackagesPath); err != nil {
		return nil, err
	}
	for _, d := range macroPaths {
		if err := p.walk(d, ".sql", p.loadMacroFile); err != nil {
			return nil, err
		}
	}
	for _, d := range testPaths {
		if err := p.walk(filepath.Join(d, "generic"), ".sql", p.loadMacroFile); err != nil {
			return nil, err
		}
	}
	for _, d := range append(append([]string{}, modelPaths...), docsPaths...) {
		if d == "" {
			continue
		}
		if err := p.walk(d, ".md", p.loadDocsFile); err != nil {
			return nil, err
		}
	}
	var ymls []string
	for _, d := range modelPaths {
		var rels []string
		var srcs [][]byte
		if err := p.walk(d, ".sql", func(rel string, b []byte) error { rels, srcs = append(rels, rel), append(srcs, b); return nil }); err != nil {
			return nil, err
		}
		// Parsing is most of the load time and each file stands alone.
		tpls := make([]*Template, len(rels))
		if err := parallel(len(rels), func(i int) (err error) {
			tpls[i], err = parseTemplate(rels[i], 1, string(srcs[i]))
			return err
		}); err != nil {
			return nil, err
		}
		for i, rel := range rels {
			if err := p.addModel(rel, d, srcs[i], tpls[i], dp.Models); err != nil {
				return nil, err
			}
		}
		if err := p.walk(d, ".py", func(rel string, b []byte) error {
			return tandem.FileErrorf(tandem.EINVALID, rel, 1, "Python models are not supported by Tandem; rewrite it as a SQL model or move it out of %s", d)
		}); err != nil {
			return nil, err
		}
		for _, ext := range []string{".yml", ".yaml"} {
			if err := p.walk(d, ext, func(rel string, _ []byte) error { ymls = append(ymls, rel); return nil }); err != nil {
				return nil, err
			}
		}
	}
	for _, d := range seedPaths {
		if err := p.walk(d, ".csv", func(rel string, b []byte) error { return p.addSeed(rel, d, dp.Seeds) }); err != nil {
			return nil, err
		}
		for _, ext := range []string{".yml", ".yaml"} {
			if err := p.walk(d, ext, func(rel string, _ []byte) error { ymls = append(ymls, rel); return nil }); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(ymls)
	// Sources must exist before models render; properties apply to nodes
	// already found. So: read every yml, add sources, then apply the rest.
	files := make([]*schemaDoc, 0, len(ymls))
	for _, rel := range ymls {
		b, err := os.ReadFile(filepath.Join(p.Dir, rel))
		if err != nil {
			return nil, err
		}
		var sf schemaFile
		root, err := p.decodeLenient(rel, b, &sf)
		if err != nil {
			return nil, err
		}
		files = append(files, &schemaDoc{rel: rel, f: &sf, root: root})
		if err := p.addSources(rel, &sf, root); err != nil {
			return nil, err
		}
	}
	for _, sd := range files {
		if err := p.applyProperties(sd); err != nil {
			return nil, err
		}
	}
	for _, d := range paths(dp.SnapshotPaths, nil, "snapshots") {
		if err := p.walk(d, ".sql", func(rel string, b []byte) error { return p.addSnapshots(rel, d, b, dp.Snapshots) }); err != nil {
			return nil, err
		}
	}
	snaps := p.sortedIDs(tandem.KindSnapshot)
	if err := parallel(len(snaps), func(i int) error { return p.parseSnapshot(p.Nodes[snaps[i]]) }); err != nil {
		return nil, err
	}
	// Render every model once to find its refs and its config() call.
	ids := p.sortedIDs(tandem.KindModel)
	if err := parallel(len(ids), func(i int) error { return p.parseModel(p.Nodes[ids[i]]) }); err != nil {
		return nil, err
	}
	for _, id := range ids {
		n := p.Nodes[id]
		file, line := p.ConfigAt(n, "freshness")
		f, err := parseFreshness(file, line, n.Config["freshness"])
		if err != nil {
			return nil, err
		}
		n.Freshness = f
	}
	// config(enabled=false) in a file removes the model.
	for _, id := range ids {
		if n := p.Nodes[id]; !n.Enabled {
			delete(p.Nodes, id)
			delete(p.byName, n.Name)
			p.disabled[n.Name] = n.Path
		}
	}
	for _, id := range ids {
		if n, ok := p.Nodes[id]; ok {
			if err := p.checkRefs(n); err != nil {
				return nil, err
			}
		}
	}
	// Tests defined in yml, then singular tests.
	for _, sd := range files {
		if err := p.addSchemaTests(sd, dp.Tests, dp.DataTests); err != nil {
			return nil, err
		}
		if err := p.addUnitTests(sd, testPaths); err != nil {
			return nil, err
		}
	}
	for _, d := range testPaths {
		if err := p.walk(d, ".sql", func(rel string, b []byte) error {
			// generic/ holds test definitions, fixtures/ unit-test fixtures.
			if strings.HasPrefix(rel, filepath.Join(d, "generic")+string(filepath.Separator)) || strings.HasPrefix(rel, filepath.Join(d, "fixtures")+string(filepath.Separator)) {
				return nil
			}
			return p.addSingularTest(rel, d, b, dp.Tests, dp.DataTests)
		}); err != nil {
			return nil, err
		}
	}
	if err := p.buildGraph(); err != nil {
		return nil, err
	}
	if err := p.resolveNames(); err != nil {
		return nil, err
	}
	p.onRun = map[string][]any{"on-run-start": hookList(dp.OnRunStart), "on-run-end": hookList(dp.OnRunEnd)}
	return p, nil
}

// tableSetsFreshness reports an explicit `freshness: null` on a table,
// which turns the source's SLA off for it.
func tableSetsFreshness(srcNodes *yaml.Node, i, j int) bool {
	if srcNodes == nil || i >= len(srcNodes.Content) {
		return false
	}
	tables := mapValue(srcNodes.Content[i], "tables")
	if tables == nil || j >= len(tables.Content) {
		return false
	}
	return mapValue(tables.Content[j], "freshness") != nil
}

type schemaDoc struct {
	rel  string
	f    *schemaFile
	root *yaml.Node
}

// walk calls fn for each file under dir (relative to the project) with ext.
func (p *Project) walk(dir, ext string, fn func(rel string, b []byte) error) error {
	root := filepath.Join(p.Dir, dir)
	if _, err := os.Stat(root); os.IsNotExist(err) {
		return nil
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ext) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, path := range files {
		rel, _ := filepath.Rel(p.Dir, path)
		var b []byte
		if ext != ".csv" { // seeds are read when they are loaded
			if b, err = os.ReadFile(path); err != nil {
				return err
			}
		}
		if err := fn(rel, b); err != nil {
			return err
		}
	}
	return nil
}

func (p *Project) loadSettings() error {
	b, err := os.ReadFile(filepath.Join(p.Dir, "tandem.yaml"))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	b = []byte(os.ExpandEnv(string(b)))
	if _, err := decodeStrict("tandem.yaml", b, &p.Settings); err != nil {
		return err
	}
	switch {
	case p.Settings.KeepVersions < 0:
		return tandem.FileErrorf(tandem.EINVALID, "tandem.yaml", 0, "keep_versions must be 0 or more, got %d", p.Settings.KeepVersions)
	case p.Settings.Threads < 1:
		return tandem.FileErrorf(tandem.EINVALID, "tandem.yaml", 0, "threads must be 1 or more, got %d", p.Settings.Threads)
	case p.Settings.Retries.Attempts < 1:
		return tandem.FileErrorf(tandem.EINVALID, "tandem.yaml", 0, "retries.attempts must be 1 or more (1 means no retry), got %d", p.Settings.Retries.Attempts)
	}
	return nil
}

// loadProfile finds profiles.yml where dbt does: $DBT_PROFILES_DIR, the
// project folder, then ~/.dbt.
// Without one, the project builds into tandem.yaml's warehouse path.
func (p *Project) loadProfile(name, target string) error {
	p.Target = Target{Name: "dev", Schema: "main", Threads: p.Settings.Threads, Path: p.abs(p.Settings.Warehouse.Path)}
	var file string
	for _, d := range []string{os.Getenv("DBT_PROFILES_DIR"), p.Dir, filepath.Join(os.Getenv("HOME"), ".dbt")} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "profiles.yml")); err == nil {
			file = filepath.Join(d, "profiles.yml")
			break
		}
	}
	if file == "" || name == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rel := file
	if r, err := filepath.Rel(p.Dir, file); err == nil && !strings.HasPrefix(r, "..") {
		rel = r
	}
	// Only the selected profile and target are read and rendered, as in
	// dbt: the others may be any adapter, with env vars unset here.
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return yamlError(rel, err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	dedupeKeys(rel, root.Content[0], "", p.warnAt)
	profNode := mapValue(root.Content[0], name)
	if profNode == nil {
		return nil // a profile for another project; use Tandem's defaults
	}
	g := yamlGlobals(p.cliVars, nil)
	if target == "" {
		if tn := mapValue(profNode, "target"); tn != nil {
			if err := renderYAML(rel, tn, g); err != nil {
				return err
			}
			target = tn.Value
		}
	}
	outputs := mapValue(profNode, "outputs")
	outNode := mapValue(outputs, target)
	if outNode == nil {
		var names []string
		if outputs != nil {
			for i := 0; i+1 < len(outputs.Content); i += 2 {
				names = append(names, outputs.Content[i].Value)
			}
		}
		line := profNode.Line
		if outputs != nil {
			line = outputs.Line
		}
		return tandem.FileErrorf(tandem.EINVALID, rel, line, "profile %q has no target %q; its targets: %s", name, target, strings.Join(names, ", "))
	}
	if err := renderYAML(rel, outNode, g); err != nil {
		return err
	}
	var out output
	if err := checkKeys(rel, outNode, reflect.TypeOf(out), name+".outputs."+target, p.warnAt); err != nil {
		return err
	}
	if err := outNode.Decode(&out); err != nil {
		return yamlError(rel, err)
	}
	if out.Type != "duckdb" {
		return tandem.FileErrorf(tandem.EINVALID, rel, outNode.Line, "profile %q target %q has type %q; Tandem builds on DuckDB (type: duckdb); pick a duckdb target with --target", name, target, out.Type)
	}
	p.Target.Name = target
	if out.Schema != "" {
		p.Target.Schema = out.Schema
	}
	if out.Threads > 0 {
		p.Target.Threads = out.Threads
	}
	p.Target.Settings = out.Settings
	// tandem.yaml wins when it names a path; otherwise the profile's path.
	if out.Path != "" && out.Path != ":memory:" && !p.settingsNamePath() {
		p.Target.Path = p.abs(out.Path)
	}
	return nil
}

func (p *Project) settingsNamePath() bool {
	return p.Settings.Warehouse.Path != defaultSettings().Warehouse.Path
}

func (p *Project) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Dir, path)
}

var (
	reDocsBlock = regexp.MustCompile(`(?s)\{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}`)
)

func (p *Project) loadMacroFile(rel string, b []byte) error {
	// {% test name(...) %} is dbt's spelling of a macro named test_name;
	// the engine reads it so.
	t, err := parseTemplate(rel, 1, string(b))
	if err != nil {
		return err
	}
	for _, name := range t.tpl.MacroOrder {
		m := t.tpl.Macros[name]
		if _, dup := p.macros.byName[name]; dup {
			return tandem.FileErrorf(tandem.EINVALID, rel, m.Line, "macro %q is defined twice (also in %s)", name, p.macroFiles[name])
		}
		p.macros.byName[name] = m
		p.macroFiles[name] = rel
	}
	return nil
}

func (p *Project) loadDocsFile(rel string, b []byte) error {
	for _, m := range reDocsBlock.FindAllSubmatch(b, -1) {
		name := string(m[1])
		if _, dup := p.Docs[name]; dup {
			return tandem.FileErrorf(tandem.EINVALID, rel, 0, "docs block %q is defined twice", name)
		}
		p.Docs[name] = strings.TrimSpace(string(m[2]))
	}
	return nil
}

func (p *Project) addModel(rel, root string, b []byte, t *Template, tree map[string]any) error {
	name := strings.TrimSuffix(filepath.Base(rel), ".sql")
	if err := p.claimName(name, rel); err != nil {
		return err
	}
	n := &tandem.Node{
		ID: "model." + p.Name + "." + name, Kind: tandem.KindModel, Name: name, Path: rel, Line: 1,
		Materialized: tandem.View, Enabled: true, RawSQL: string(b), Config: map[string]any{},
	}
	applyConfig(n, folderConfig(tree, p.Name, root, rel))
	p.folderOrigins(n.ID, p.dpRoot, "models", root, rel)
	p.Nodes[n.ID] = n
	p.templates[n.ID] = t
	p.byName[name] = n.ID
	return nil
}

func (p *Project) addSeed(rel, root string, tree map[string]any) error {
	name := strings.TrimSuffix(filepath.Base(rel), ".csv")
	if err := p.claimName(name, rel); err != nil {
		return err
	}
	n := &tandem.Node{
		ID: "seed." + p.Name + "." + name, Kind: tandem.KindSeed, Name: name, Path: rel, Line: 1,
		Materialized: tandem.SeedMat, Enabled: true, Config: map[string]any{},
	}
	applyConfig(n, folderConfig(tree, p.Name, root, rel))
	p.folderOrigins(n.ID, p.dpRoot, "seeds", root, rel)
	n.Materialized = tandem.SeedMat
	if !n.Enabled {
		p.disabled[name] = rel
		return nil
	}
	p.Nodes[n.ID] = n
	p.byName[name] = n.ID
	return nil
}

func (p *Project) claimName(name, rel string) error {
	if id, dup := p.byName[name]; dup {
		return tandem.FileErrorf(tandem.EINVALID, rel, 1, "two nodes are named %q: %s and %s; rename one (names must be unique across models and seeds)", name, p.Nodes[id].Path, rel)
	}
	return nil
}

func (p *Project) addSources(rel string, sf *schemaFile, root *yaml.Node) (err error) {
	lines := seqLines(root, "sources")
	srcNodes := mapValue(root, "sources")
	for i, s := range sf.Sources {
		if s.Name == "" {
			return tandem.FileErrorf(tandem.EINVALID, rel, lineAt(lines, i), "source without a name")
		}
		var tlines []int
		if srcNodes != nil && i < len(srcNodes.Content) {
			tlines = seqLines(srcNodes.Content[i], "tables")
		}
		for j, t := range s.Tables {
			key := s.Name + "." + t.Name
			if _, dup := p.sources[key]; dup {
				return tandem.FileErrorf(tandem.EINVALID, rel, lineAt(tlines, j), "source %s is defined twice", key)
			}
			schema := s.Schema
			if schema == "" {
				schema = s.Name
			}
			ident := t.Identifier
			if ident == "" {
				ident = t.Name
			}
			n := &tandem.Node{
				ID: "source." + p.Name + "." + key, Kind: tandem.KindSource, Name: key, Path: rel,
				Line: lineAt(tlines, j), Description: p.describe(t.Description), Schema: schema, Alias: ident,
				Enabled: true, Meta: mergeMaps(s.Meta, t.Meta), Tags: union(s.Tags, t.Tags),
				Columns: columns(t.Columns, p), LoadedAtField: firstNonEmpty(t.LoadedAtField, s.LoadedAtField),
				Config: mergeMaps(s.Config, t.Config),
			}
			if s.Description != "" && n.Description == "" {
				n.Description = p.describe(s.Description)
			}
			n.Owner = ownerOf(n.Meta, n.Config)
			fresh := s.Freshness
			if t.Freshness != nil || tableSetsFreshness(srcNodes, i, j) {
				fresh = t.Freshness
			}
			if n.Freshness, err = parseFreshness(rel, n.Line, fresh); err != nil {
				return err
			}
			if n.Freshness != nil && n.LoadedAtField == "" {
				return tandem.FileErrorf(tandem.EINVALID, rel, n.Line, "source %s has a freshness SLA but no loaded_at_field: name the timestamp column that says when a row arrived", key)
			}
			loc := firstNonEmpty(t.ExternalLocation, str(t.Config["external_location"]), str(t.Meta["external_location"]),
				str(s.Config["external_location"]), str(s.Meta["external_location"]))
			if loc != "" {
				loc = strings.ReplaceAll(loc, "{name}", t.Name)
				loc = strings.ReplaceAll(loc, "{identifier}", ident)
				if !strings.Contains(loc, "(") { // a bare path: let DuckDB pick the reader
					loc = "'" + strings.ReplaceAll(loc, "'", "''") + "'"
				}
				n.ExternalLocation = loc
			}
			p.Nodes[n.ID] = n
			p.sources[key] = n.ID
		}
	}
	return nil
}

// applyProperties applies models: and seeds: entries of a yml file.
func (p *Project) applyProperties(sd *schemaDoc) error {
	for _, kind := range []string{"models", "seeds"} {
		entries := sd.f.Models
		if kind == "seeds" {
			entries = sd.f.Seeds
		}
		lines := seqLines(sd.root, kind)
		for i, m := range entries {
			id, ok := p.byName[m.Name]
			if !ok {
				if _, off := p.disabled[m.Name]; !off {
					p.Warnings = append(p.Warnings, fmt.Sprintf("%s:%d: properties for %q, but no %s of that name exists", sd.rel, lineAt(lines, i), m.Name, strings.TrimSuffix(kind, "s")))
				}
				continue
			}
			n := p.Nodes[id]
			n.PropsPath, n.PropsLine = sd.rel, lineAt(lines, i)
			if s := mapValue(sd.root, kind); s != nil && i < len(s.Content) {
				p.propertyOrigins(id, sd.rel, s.Content[i])
			}
			n.Description = p.describe(m.Description)
			n.Columns = columns(m.Columns, p)
			cfg := mergeMaps(m.Config, nil)
			if m.Meta != nil {
				cfg["meta"] = m.Meta
			}
			if len(m.Tags) > 0 {
				cfg["tags"] = toAnySlice(m.Tags)
			}
			applyConfig(n, cfg)
			if n.Kind == tandem.KindSeed {
				n.Materialized = tandem.SeedMat
			}
		}
	}
	return nil
}

func (p *Project) describe(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	out, err := renderDoc(s, p.Docs)
	if err != nil {
		return s
	}
	return out
}

var reDocCall = regexp.MustCompile(`\{\{\s*doc\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}`)

func renderDoc(s string, docs map[string]string) (string, error) {
	var missing string
	out := reDocCall.ReplaceAllStringFunc(s, func(m string) string {
		name := reDocCall.FindStringSubmatch(m)[1]
		if d, ok := docs[name]; ok {
			return d
		}
		missing = name
		return m
	})
	if missing != "" {
		return s, fmt.Errorf("doc(%q): no docs block of that name", missing)
	}
	return out, nil
}

func columns(cs []columnProps, p *Project) []tandem.Column {
	out := make([]tandem.Column, 0, len(cs))
	for _, c := range cs {
		out = append(out, tandem.Column{Name: c.Name, Type: c.DataType, Description: p.describe(c.Description)})
	}
	return out
}

func (p *Project) sortedIDs(kind tandem.NodeKind) []string {
	var ids []string
	for id, n := range p.Nodes {
		if n.Kind == kind {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// checkRefs makes sure a model depends on no disabled model.
func (p *Project) checkRefs(n *tandem.Node) error {
	for _, dep := range n.DependsOn {
		if _, ok := p.Nodes[dep]; !ok {
			name := dep[strings.LastIndex(dep, ".")+1:]
			return tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "ref('%s'): that model is disabled (enabled: false in %s)", name, p.disabled[name])
		}
	}
	return nil
}

// parallel calls fn(0..n-1) on every core and returns the error of the
// lowest index that failed, so errors do not depend on scheduling.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
