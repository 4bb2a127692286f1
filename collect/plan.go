// Package collect is Tandem's Segment-compatible event collector: the
// tracking plan, validation with exact field paths, quarantine, and the
// Segment HTTP tracking API. Accepted and quarantined events alike go to
// the EventLog; nothing a client sent is dropped without a record.
package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

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

// Validate checks an event's properties against the plan. It returns the
// violations (none means accept).
func (p *Plan) Validate(event string, props map[string]any) []Violation {
	spec, ok := p.Events[event]
	if !ok {
		if p.Unplanned == "quarantine" {
			return []Violation{{Type: UnplannedEvent, Path: "event", Message: fmt.Sprintf("event %q is not in the tracking plan", event)}}
		}
		return nil
	}
	var v []Violation
	obj := &Schema{Properties: spec.Properties, AdditionalProperties: spec.AdditionalProperties}
	obj.validateObject("properties", props, &v)
	return v
}

func (s *Schema) validateObject(path string, obj map[string]any, out *[]Violation) {
	req := required(s.Properties, s.Required)
	names := make([]string, 0, len(req))
	for name := range req {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if v, ok := obj[name]; !ok || v == nil {
			*out = append(*out, Violation{Type: RequiredMissing, Path: path + "." + name, Message: "required property is missing"})
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		child, ok := s.Properties[k]
		if !ok {
			if s.AdditionalProperties != nil && !*s.AdditionalProperties {
				*out = append(*out, Violation{Type: AdditionalProperty, Path: path + "." + k, Message: "property is not in the tracking plan"})
			}
			continue
		}
		if obj[k] == nil && !req[k] {
			continue // an optional property may be null
		}
		child.validate(path+"."+k, obj[k], out)
	}
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func (s *Schema) validate(path string, v any, out *[]Violation) {
	got := jsonType(v)
	if ts := s.types(); len(ts) > 0 {
		ok := false
		for _, t := range ts {
			if t == got || (t == "number" && got == "integer") {
				ok = true
			}
		}
		if !ok {
			*out = append(*out, Violation{Type: TypeMismatch, Path: path, Message: fmt.Sprintf("expected %s, got %s", strings.Join(ts, " or "), got)})
			return
		}
	}
	if len(s.Enum) > 0 {
		ok := false
		for _, e := range s.Enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				ok = true
			}
		}
		if !ok {
			*out = append(*out, Violation{Type: InvalidValue, Path: path, Message: fmt.Sprintf("%v is not one of %v", v, s.Enum)})
		}
	}
	switch x := v.(type) {
	case string:
		if s.Format != "" && !formats[s.Format].MatchString(x) {
			*out = append(*out, Violation{Type: InvalidValue, Path: path, Message: fmt.Sprintf("%q is not a valid %s", x, s.Format)})
		}
		if s.re != nil && !s.re.MatchString(x) {
			*out = append(*out, Violation{Type: InvalidValue, Path: path, Message: fmt.Sprintf("%q does not match %s", x, s.Pattern)})
		}
		if s.MinLength != nil && len(x) < *s.MinLength || s.MaxLength != nil && len(x) > *s.MaxLength {
			*out = append(*out, Violation{Type: InvalidValue, Path: path, Message: fmt.Sprintf("length %d is out of range", len(x))})
		}
	case float64:
		if s.Minimum != nil && x < *s.Minimum || s.Maximum != nil && x > *s.Maximum {
			*out = append(*out, Violation{Type: InvalidValue, Path: path, Message: fmt.Sprintf("%v is out of range", x)})
		}
	case map[string]any:
		if s.Properties != nil || s.AdditionalProperties != nil {
			s.validateObject(path, x, out)
		}
	case []any:
		if s.Items != nil {
			for i, item := range x {
				s.Items.validate(fmt.Sprintf("%s[%d]", path, i), item, out)
			}
		}
	}
}
