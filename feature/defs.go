// Package feature is Tandem's feature store: definitions next to the SQL
// that computes them (features/*.yml), point-in-time-correct training
// sets, materialization into the online store, online serving, and
// streaming features computed the same way online and offline.
package feature

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// Entity is what features describe: a customer, a product.
type Entity struct {
	Name        string   `yaml:"name" json:"name"`
	JoinKeys    []string `yaml:"join_keys" json:"join_keys"`
	Description string   `yaml:"description" json:"description,omitempty"`
	File        string   `yaml:"-" json:"file"`
	Line        int      `yaml:"-" json:"line"`
}

func (e *Entity) UnmarshalYAML(n *yaml.Node) error {
	type plain Entity
	e.Line = n.Line
	return n.Decode((*plain)(e))
}

// Feature is one column of a feature view.
type Feature struct {
	Name        string `yaml:"name" json:"name"`
	Type        string `yaml:"type" json:"type"`
	Description string `yaml:"description" json:"description,omitempty"`
	Line        int    `yaml:"-" json:"line"`
}

func (f *Feature) UnmarshalYAML(n *yaml.Node) error {
	type plain Feature
	f.Line = n.Line
	return n.Decode((*plain)(f))
}

// View is a feature view: features of one or more entities, read from a
// model or source with an event timestamp, or computed from the event
// stream (Stream).
type View struct {
	Name        string    `yaml:"name" json:"name"`
	Entities    []string  `yaml:"entities" json:"entities"`
	Source      string    `yaml:"source" json:"source,omitempty"` // a model or seed name, or source_name.table
	Timestamp   string    `yaml:"timestamp_field" json:"timestamp_field,omitempty"`
	Created     string    `yaml:"created_timestamp_column" json:"created_timestamp_column,omitempty"`
	TTLText     string    `yaml:"ttl" json:"-"`
	Online      *bool     `yaml:"online" json:"-"` // materialized into the online store (true)
	Owner       string    `yaml:"owner" json:"owner,omitempty"`
	Tags        []string  `yaml:"tags" json:"tags,omitempty"`
	Description string    `yaml:"description" json:"description,omitempty"`
	Features    []Feature `yaml:"features" json:"features"`
	Stream      *Stream   `yaml:"stream" json:"stream,omitempty"`
	File        string    `yaml:"-" json:"file"`
	Line        int       `yaml:"-" json:"line"`

	TTL      time.Duration `yaml:"-" json:"ttl"`       // 0: no limit
	Keys     []string      `yaml:"-" json:"join_keys"` // the entities' join keys, in order
	Relation string        `yaml:"-" json:"relation"`  // what SQL reads: "schema"."table"
	Node     string        `yaml:"-" json:"node"`      // the source's node ID

	indexOnce sync.Once
	index     map[string]int // feature name -> position in Features
}

func (v *View) UnmarshalYAML(n *yaml.Node) error {
	type plain View
	v.Line = n.Line
	return n.Decode((*plain)(v))
}

// IsOnline reports whether the view is materialized into the online store.
func (v *View) IsOnline() bool { return v.Online == nil || *v.Online }

// Feature returns the view's feature called name.
func (v *View) Feature(name string) (*Feature, bool) {
	v.indexOnce.Do(func() {
		v.index = make(map[string]int, len(v.Features))
		for i := range v.Features {
			v.index[v.Features[i].Name] = i
		}
	})
	i, ok := v.index[name]
	if !ok {
		return nil, false
	}
	return &v.Features[i], true
}

// Service is a named list of features, for one model.
type Service struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Owner       string   `yaml:"owner" json:"owner,omitempty"`
	Features    []string `yaml:"features" json:"features"` // view:feature, or view to take all of it
	File        string   `yaml:"-" json:"file"`
	Line        int      `yaml:"-" json:"line"`

	Refs []Ref `yaml:"-" json:"refs"`
}

func (s *Service) UnmarshalYAML(n *yaml.Node) error {
	type plain Service
	s.Line = n.Line
	return n.Decode((*plain)(s))
}

// Ref names one feature of one view.
type Ref struct {
	View    string `json:"view"`
	Feature string `json:"feature"`
}

func (r Ref) String() string { return r.View + ":" + r.Feature }

type file struct {
	Entities []*Entity  `yaml:"entities"`
	Views    []*View    `yaml:"feature_views"`
	Services []*Service `yaml:"feature_services"`
}

// Registry is every definition of a project's features/ folder.
type Registry struct {
	Entities map[string]*Entity
	Views    map[string]*View
	Services map[string]*Service
}

// ViewNames returns the views' names, sorted.
func (r *Registry) ViewNames() []string {
	out := make([]string, 0, len(r.Views))
	for n := range r.Views {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Types a feature may have, and the DuckDB types of each.
var featureTypes = map[string]string{
	"string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT", "float32": "FLOAT", "float64": "DOUBLE",
	"bool": "BOOLEAN", "timestamp": "TIMESTAMP", "string_list": "VARCHAR[]", "int64_list": "BIGINT[]", "float64_list": "DOUBLE[]",
}

func typeNames() string {
	names := make([]string, 0, len(featureTypes))
	for n := range featureTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Load reads features/*.yml of the project and checks what can be checked
// without the warehouse: names, references between definitions, sources.
// Check compares the views with the tables they read.
func Load(p *project.Project) (*Registry, error) {
	r := &Registry{Entities: map[string]*Entity{}, Views: map[string]*View{}, Services: map[string]*Service{}}
	files, _ := filepath.Glob(filepath.Join(p.Dir, "features", "*.yml"))
	more, _ := filepath.Glob(filepath.Join(p.Dir, "features", "*.yaml"))
	files = append(files, more...)
	sort.Strings(files)
	var views []*View
	var services []*Service
	for _, path := range files {
		rel, _ := filepath.Rel(p.Dir, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var f file
		if _, err := project.DecodeYAML(rel, src, &f); err != nil {
			return nil, err
		}
		for _, e := range f.Entities {
			e.File = rel
			if e.Name == "" || len(e.JoinKeys) == 0 {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, e.Line, "an entity needs a name and join_keys")
			}
			if prev, dup := r.Entities[e.Name]; dup {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, e.Line, "entity %q is defined twice (also %s:%d)", e.Name, prev.File, prev.Line)
			}
			r.Entities[e.Name] = e
		}
		for _, v := range f.Views {
			v.File = rel
			if prev, dup := r.Views[v.Name]; dup {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, v.Line, "feature view %q is defined twice (also %s:%d)", v.Name, prev.File, prev.Line)
			}
			if v.Name == "" {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, v.Line, "a feature view needs a name")
			}
			r.Views[v.Name] = v
			views = append(views, v)
		}
		for _, s := range f.Services {
			s.File = rel
			if prev, dup := r.Services[s.Name]; dup {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, s.Line, "feature service %q is defined twice (also %s:%d)", s.Name, prev.File, prev.Line)
			}
			r.Services[s.Name] = s
			services = append(services, s)
		}
	}
	for _, v := range views {
		if err := r.resolveView(p, v); err != nil {
			return nil, err
		}
	}
	for _, s := range services {
		if len(s.Features) == 0 {
			return nil, tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "feature service %q lists no features", s.Name)
		}
		for _, ref := range s.Features {
			refs, err := r.ParseRefs([]string{ref})
			if err != nil {
				return nil, tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "feature service %q: %v", s.Name, tandem.ErrorMessage(err))
			}
			s.Refs = append(s.Refs, refs...)
		}
	}
	return r, nil
}

func (r *Registry) resolveView(p *project.Project, v *View) error {
	fail := func(line int, format string, args ...any) error {
		if line == 0 {
			line = v.Line
		}
		return tandem.FileErrorf(tandem.EINVALID, v.File, line, "feature view %q: %s", v.Name, fmt.Sprintf(format, args...))
	}
	if len(v.Entities) == 0 {
		return fail(0, "entities is missing (the entities its rows describe)")
	}
	for _, name := range v.Entities {
		e, ok := r.Entities[name]
		if !ok {
			return fail(0, "unknown entity %q%s", name, project.Suggest(name, sorted.Keys(r.Entities)))
		}
		v.Keys = append(v.Keys, e.JoinKeys...)
	}
	ttl, err := ParseDuration(v.TTLText)
	if err != nil {
		return fail(0, "ttl: %v", err)
	}
	v.TTL = ttl
	if v.Stream != nil {
		return r.resolveStream(p, v, fail)
	}
	if v.Source == "" {
		return fail(0, "source is missing: a model or seed name, or source_name.table")
	}
	if v.Timestamp == "" {
		return fail(0, "timestamp_field is missing: the column that says when each row's values became true")
	}
	n, err := p.Resolve(v.Source)
	if err != nil {
		return fail(0, "source %v", err)
	}
	rel := p.Relation(n)
	v.Relation, v.Node = rel.String(), n.ID
	if len(v.Features) == 0 {
		return fail(0, "features is missing: the columns to serve, with their types")
	}
	seen := map[string]bool{}
	for _, f := range v.Features {
		if seen[f.Name] {
			return fail(f.Line, "feature %q is listed twice", f.Name)
		}
		seen[f.Name] = true
		if _, ok := featureTypes[f.Type]; !ok {
			return fail(f.Line, "feature %q: type %q is not one of %s", f.Name, f.Type, typeNames())
		}
		for _, k := range v.Keys {
			if f.Name == k {
				return fail(f.Line, "feature %q is a join key of the view's entities", f.Name)
			}
		}
	}
	return nil
}

// ParseRefs reads feature references: view:feature, or view for all of
// its features.
func (r *Registry) ParseRefs(list []string) ([]Ref, error) {
	out := make([]Ref, 0, len(list))
	one := make([]string, 1)
	for _, item := range list {
		parts := one
		if strings.IndexByte(item, ',') >= 0 {
			parts = strings.Split(item, ",")
		} else {
			one[0] = item
		}
		for _, s := range parts {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			view, feat, _ := strings.Cut(s, ":")
			v, ok := r.Views[view]
			if !ok {
				return nil, tandem.Errorf(tandem.EINVALID, "no feature view %q%s", view, project.Suggest(view, sorted.Keys(r.Views)))
			}
			if feat == "" || feat == "*" {
				for _, f := range v.Features {
					out = append(out, Ref{View: view, Feature: f.Name})
				}
				continue
			}
			if _, ok := v.Feature(feat); !ok {
				names := make([]string, len(v.Features))
				for i, f := range v.Features {
					names[i] = f.Name
				}
				return nil, tandem.Errorf(tandem.EINVALID, "feature view %q has no feature %q%s", view, feat, project.Suggest(feat, names))
			}
			out = append(out, Ref{View: view, Feature: feat})
		}
	}
	if len(out) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "no features requested; name them as view:feature")
	}
	return out, nil
}

// Check compares every view with the table it reads: the join keys, the
// timestamps and every feature must be columns of it, of a compatible type.
// A source that is not built yet is an error that says to build it.
func (r *Registry) Check(ctx context.Context, wh tandem.Warehouse) error {
	for _, name := range r.ViewNames() {
		v := r.Views[name]
		if v.Stream != nil {
			continue // its columns come from the tracking plan (checked at load)
		}
		types, names, err := describe(ctx, wh, v.Relation)
		if err != nil {
			return tandem.FileErrorf(tandem.EINVALID, v.File, v.Line, "feature view %q: cannot read %s (%v); build it first (tandem build --select %s)",
				v.Name, v.Relation, tandem.ErrorMessage(err), v.Source)
		}
		need := func(line int, what, col string) error {
			if _, ok := types[col]; !ok {
				return tandem.FileErrorf(tandem.EINVALID, v.File, line, "feature view %q: %s %q is not a column of %s%s", v.Name, what, col, v.Relation, project.Suggest(col, names))
			}
			return nil
		}
		for _, k := range v.Keys {
			if err := need(v.Line, "join key", k); err != nil {
				return err
			}
		}
		if err := need(v.Line, "timestamp_field", v.Timestamp); err != nil {
			return err
		}
		if !isTimeType(types[v.Timestamp]) {
			return tandem.FileErrorf(tandem.EINVALID, v.File, v.Line, "feature view %q: timestamp_field %q is %s, not a timestamp or date", v.Name, v.Timestamp, types[v.Timestamp])
		}
		if v.Created != "" {
			if err := need(v.Line, "created_timestamp_column", v.Created); err != nil {
				return err
			}
		}
		for _, f := range v.Features {
			if err := need(f.Line, "feature", f.Name); err != nil {
				return err
			}
			if !compatible(f.Type, types[f.Name]) {
				return tandem.FileErrorf(tandem.EINVALID, v.File, f.Line, "feature view %q: feature %q is declared %s but column %s.%s is %s", v.Name, f.Name, f.Type, v.Relation, f.Name, types[f.Name])
			}
		}
	}
	return nil
}

func isTimeType(t string) bool {
	return strings.HasPrefix(t, "TIMESTAMP") || t == "DATE"
}

// compatible reports whether a column of DuckDB type col can be served as
// a feature of type want without losing anything.
func compatible(want, col string) bool {
	isInt := func(t string) bool {
		switch t {
		case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "HUGEINT", "UBIGINT":
			return true
		}
		return false
	}
	isFloat := func(t string) bool {
		return t == "DOUBLE" || t == "FLOAT" || t == "REAL" || strings.HasPrefix(t, "DECIMAL")
	}
	switch want {
	case "string":
		return col == "VARCHAR"
	case "int32", "int64":
		return isInt(col)
	case "float32", "float64":
		return isFloat(col) || isInt(col)
	case "bool":
		return col == "BOOLEAN"
	case "timestamp":
		return isTimeType(col)
	case "string_list":
		return col == "VARCHAR[]"
	case "int64_list":
		return strings.HasSuffix(col, "[]") && isInt(strings.TrimSuffix(col, "[]"))
	case "float64_list":
		return strings.HasSuffix(col, "[]") && (isFloat(strings.TrimSuffix(col, "[]")) || isInt(strings.TrimSuffix(col, "[]")))
	}
	return false
}

// describe returns the columns of what SQL reads as rel, with their types.
func describe(ctx context.Context, wh tandem.Warehouse, rel string) (map[string]string, []string, error) {
	rows, err := wh.Query(ctx, "describe select * from "+rel, 0)
	if err != nil {
		return nil, nil, err
	}
	types := map[string]string{}
	var names []string
	for _, r := range rows.Rows {
		name := fmt.Sprint(r[0])
		types[name] = strings.ToUpper(fmt.Sprint(r[1]))
		names = append(names, name)
	}
	return types, names, nil
}

// ParseDuration reads durations as people write them in YAML: 30d, 12h,
// 1w, 90m, 0 (none).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	for unit, d := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("%q is not a duration like 30d, 12h or 90m", s)
			}
			return time.Duration(f * float64(d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like 30d, 12h or 90m", s)
	}
	return d, nil
}
