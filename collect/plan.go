// Package collect is Tandem's Segment-compatible event collector: the
// tracking plan, validation with exact field paths, quarantine, and the
// Segment HTTP tracking API. Accepted and quarantined events alike go to
// the EventLog; nothing a client sent is dropped without a record.
package collect

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
)

// Violation types.
const (
	UnplannedEvent     = "unplanned_event"
	RequiredMissing    = "required_missing"
	TypeMismatch       = "type_mismatch"
	AdditionalProperty = "additional_property"
	InvalidValue       = "invalid_value" // enum, format, range, pattern
	Malformed          = "malformed"
)

// Violation is why an event was quarantined.
type Violation struct {
	Type    string `json:"type"`
	Path    string `json:"path"` // "properties.products[2].price"
	Message string `json:"message"`
}

// Schema is the JSON Schema subset a tracking plan uses.
type Schema struct {
	Type                 any                `yaml:"type" json:"type,omitempty"` // a name or a list of names
	Description          string             `yaml:"description" json:"description,omitempty"`
	Required             any                `yaml:"required" json:"required,omitempty"` // true on a property, or a list on an object
	Properties           map[string]*Schema `yaml:"properties" json:"properties,omitempty"`
	AdditionalProperties *bool              `yaml:"additional_properties" json:"additional_properties,omitempty"`
	Items                *Schema            `yaml:"items" json:"items,omitempty"`
	Enum                 []any              `yaml:"enum" json:"enum,omitempty"`
	Format               string             `yaml:"format" json:"format,omitempty"`
	Minimum              *float64           `yaml:"minimum" json:"minimum,omitempty"`
	Maximum              *float64           `yaml:"maximum" json:"maximum,omitempty"`
	MinLength            *int               `yaml:"min_length" json:"min_length,omitempty"`
	MaxLength            *int               `yaml:"max_length" json:"max_length,omitempty"`
	Pattern              string             `yaml:"pattern" json:"pattern,omitempty"`
	re                   *regexp.Regexp
	req                  map[string]bool // prepared: required properties
	reqNames             []string        // sorted
	typeNames            []string
}

// EventSpec is one planned event.
type EventSpec struct {
	Name                 string             `yaml:"name" json:"name"`
	Description          string             `yaml:"description" json:"description,omitempty"`
	Owner                string             `yaml:"owner" json:"owner,omitempty"`
	Properties           map[string]*Schema `yaml:"properties" json:"properties"`
	AdditionalProperties *bool              `yaml:"additional_properties" json:"additional_properties,omitempty"`
	File                 string             `yaml:"-" json:"file"`
	Line                 int                `yaml:"-" json:"line"`

	once sync.Once
	obj  *Schema
}

// Plan is the tracking plan: events/*.yml of a project.
type Plan struct {
	Unplanned string                `json:"unplanned"` // allow or quarantine
	Events    map[string]*EventSpec `json:"events"`
}

type planFile struct {
	Unplanned string       `yaml:"unplanned"`
	Events    []*EventSpec `yaml:"events"`
}

var types = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "object": true, "array": true, "null": true}
var formats = map[string]*regexp.Regexp{
	"email":     regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`),
	"date-time": regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$`),
	"date":      regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`),
	"uri":       regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$`),
	"uuid":      regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
}

// LoadPlan reads events/*.yml under dir. No files means no plan: every
// event is allowed.
func LoadPlan(dir string) (*Plan, error) {
	p := &Plan{Unplanned: "allow", Events: map[string]*EventSpec{}}
	files, _ := filepath.Glob(filepath.Join(dir, "events", "*.yml"))
	more, _ := filepath.Glob(filepath.Join(dir, "events", "*.yaml"))
	files = append(files, more...)
	sort.Strings(files)
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			return nil, tandem.FileErrorf(tandem.EINVALID, rel, 0, "invalid YAML: %v", err)
		}
		var pf planFile
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&pf); err != nil {
			return nil, tandem.FileErrorf(tandem.EINVALID, rel, 0, "%v", strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
		}
		if pf.Unplanned != "" {
			if pf.Unplanned != "allow" && pf.Unplanned != "quarantine" {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, 0, "unplanned: %q; use allow or quarantine", pf.Unplanned)
			}
			p.Unplanned = pf.Unplanned
		}
		var lines []int
		if len(root.Content) > 0 {
			for i := 0; i+1 < len(root.Content[0].Content); i += 2 {
				if root.Content[0].Content[i].Value == "events" {
					for _, c := range root.Content[0].Content[i+1].Content {
						lines = append(lines, c.Line)
					}
				}
			}
		}
		for i, e := range pf.Events {
			e.File = rel
			if i < len(lines) {
				e.Line = lines[i]
			}
			if e.Name == "" {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, e.Line, "an event needs a name")
			}
			if prev, dup := p.Events[e.Name]; dup {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, e.Line, "event %q is planned twice (also %s:%d)", e.Name, prev.File, prev.Line)
			}
			for name, s := range e.Properties {
				if err := s.check("properties." + name); err != nil {
					return nil, tandem.FileErrorf(tandem.EINVALID, rel, e.Line, "event %q: %v", e.Name, err)
				}
			}
			p.Events[e.Name] = e
		}
	}
	return p, nil
}

func (s *Schema) types() []string {
	switch t := s.Type.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func (s *Schema) check(path string) error {
	for _, t := range s.types() {
		if !types[t] {
			return fmt.Errorf("%s: unknown type %q (use string, number, integer, boolean, object, array or null)", path, t)
		}
	}
	if s.Format != "" && formats[s.Format] == nil {
		return fmt.Errorf("%s: unknown format %q (use email, date-time, date, uri or uuid)", path, s.Format)
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return fmt.Errorf("%s: pattern: %v", path, err)
		}
		s.re = re
	}
	for name, c := range s.Properties {
		if err := c.check(path + "." + name); err != nil {
			return err
		}
	}
	if s.Items != nil {
		return s.Items.check(path + "[]")
	}
	return nil
}

// required reports which properties of an object schema must be present.
func required(props map[string]*Schema, list any) map[string]bool {
	out := map[string]bool{}
	if l, ok := list.([]any); ok {
		for _, x := range l {
			out[fmt.Sprint(x)] = true
		}
	}
	for name, s := range props {
		if b, ok := s.Required.(bool); ok && b {
			out[name] = true
		}
	}
	return out
}

// Validate checks an event's properties (a JSON object, or nil) against
// the plan. It returns the violations (none means accept).
func (p *Plan) Validate(event string, props *fastjson.Value) []Violation {
	spec, ok := p.Events[event]
	if !ok {
		if p.Unplanned == "quarantine" {
			return []Violation{{Type: UnplannedEvent, Path: "event", Message: fmt.Sprintf("event %q is not in the tracking plan", event)}}
		}
		return nil
	}
	var v []Violation
	spec.schema().validateObject("properties", props, &v)
	return v
}

// ValidateJSON is Validate for properties as JSON text.
func (p *Plan) ValidateJSON(event string, props []byte) ([]Violation, error) {
	if len(props) == 0 {
		return p.Validate(event, nil), nil
	}
	v, err := fastjson.ParseBytes(props)
	if err != nil {
		return nil, err
	}
	return p.Validate(event, v), nil
}

// schema is the event's properties as one object schema, prepared once.
func (e *EventSpec) schema() *Schema {
	e.once.Do(func() {
		e.obj = &Schema{Properties: e.Properties, AdditionalProperties: e.AdditionalProperties}
		e.obj.prepare()
	})
	return e.obj
}

// prepare computes what validation needs on every call: the required
// properties, sorted, and the type names.
func (s *Schema) prepare() {
	s.req = required(s.Properties, s.Required)
	s.reqNames = make([]string, 0, len(s.req))
	for name := range s.req {
		s.reqNames = append(s.reqNames, name)
	}
	sort.Strings(s.reqNames)
	s.typeNames = s.types()
	for _, c := range s.Properties {
		c.prepare()
	}
	if s.Items != nil {
		s.Items.prepare()
	}
}

func (s *Schema) validateObject(path string, obj *fastjson.Value, out *[]Violation) {
	var o *fastjson.Object
	if obj != nil {
		o, _ = obj.Object()
	}
	for _, name := range s.reqNames {
		var v *fastjson.Value
		if o != nil {
			v = o.Get(name)
		}
		if v == nil || v.Type() == fastjson.TypeNull {
			*out = append(*out, Violation{Type: RequiredMissing, Path: path + "." + name, Message: "required property is missing"})
		}
	}
	if o == nil {
		return
	}
	first := len(*out)
	o.Visit(func(key []byte, v *fastjson.Value) {
		child, ok := s.Properties[string(key)]
		if !ok {
			if s.AdditionalProperties != nil && !*s.AdditionalProperties {
				*out = append(*out, Violation{Type: AdditionalProperty, Path: path + "." + string(key), Message: "property is not in the tracking plan"})
			}
			return
		}
		if v.Type() == fastjson.TypeNull && !s.req[string(key)] {
			return // an optional property may be null
		}
		child.validate(path, key, v, out)
	})
	// Report in the order of the property names, whatever the client's order.
	if added := (*out)[first:]; len(added) > 1 {
		sort.SliceStable(added, func(i, j int) bool { return added[i].Path < added[j].Path })
	}
}

func jsonType(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	case fastjson.TypeNumber:
		if x := v.GetFloat64(); x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeArray:
		return "array"
	}
	return "object"
}

// validate checks v, found at parent.key (or parent[key] when key is an
// index); the path string is built only when something is wrong.
func (s *Schema) validate(parent string, key []byte, v *fastjson.Value, out *[]Violation) {
	path := func() string {
		if len(key) > 0 && key[0] == '[' {
			return parent + string(key)
		}
		return parent + "." + string(key)
	}
	got := jsonType(v)
	if ts := s.typeNames; len(ts) > 0 {
		ok := false
		for _, t := range ts {
			if t == got || (t == "number" && got == "integer") {
				ok = true
			}
		}
		if !ok {
			*out = append(*out, Violation{Type: TypeMismatch, Path: path(), Message: fmt.Sprintf("expected %s, got %s", strings.Join(ts, " or "), got)})
			return
		}
	}
	if len(s.Enum) > 0 && !enumHas(s.Enum, v) {
		*out = append(*out, Violation{Type: InvalidValue, Path: path(), Message: fmt.Sprintf("%s is not one of %v", v, s.Enum)})
	}
	switch v.Type() {
	case fastjson.TypeString:
		x := v.GetStringBytes()
		if s.Format != "" && !formats[s.Format].Match(x) {
			*out = append(*out, Violation{Type: InvalidValue, Path: path(), Message: fmt.Sprintf("%q is not a valid %s", x, s.Format)})
		}
		if s.re != nil && !s.re.Match(x) {
			*out = append(*out, Violation{Type: InvalidValue, Path: path(), Message: fmt.Sprintf("%q does not match %s", x, s.Pattern)})
		}
		if n := utf8.RuneCount(x); s.MinLength != nil && n < *s.MinLength || s.MaxLength != nil && n > *s.MaxLength {
			*out = append(*out, Violation{Type: InvalidValue, Path: path(), Message: fmt.Sprintf("length %d is out of range", n)})
		}
	case fastjson.TypeNumber:
		x := v.GetFloat64()
		if s.Minimum != nil && x < *s.Minimum || s.Maximum != nil && x > *s.Maximum {
			*out = append(*out, Violation{Type: InvalidValue, Path: path(), Message: fmt.Sprintf("%s is out of range", v)})
		}
	case fastjson.TypeObject:
		if s.Properties != nil || s.AdditionalProperties != nil {
			s.validateObject(path(), v, out)
		}
	case fastjson.TypeArray:
		if s.Items != nil {
			p := path()
			for i, item := range v.GetArray() {
				s.Items.validate(p, []byte("["+strconv.Itoa(i)+"]"), item, out)
			}
		}
	}
}

// enumHas reports whether v equals one of the enum's values (from YAML:
// strings, numbers, booleans, null).
func enumHas(enum []any, v *fastjson.Value) bool {
	for _, e := range enum {
		switch x := e.(type) {
		case string:
			if v.Type() == fastjson.TypeString && string(v.GetStringBytes()) == x {
				return true
			}
		case int:
			if v.Type() == fastjson.TypeNumber && v.GetFloat64() == float64(x) {
				return true
			}
		case float64:
			if v.Type() == fastjson.TypeNumber && v.GetFloat64() == x {
				return true
			}
		case bool:
			if x && v.Type() == fastjson.TypeTrue || !x && v.Type() == fastjson.TypeFalse {
				return true
			}
		case nil:
			if v.Type() == fastjson.TypeNull {
				return true
			}
		}
	}
	return false
}
