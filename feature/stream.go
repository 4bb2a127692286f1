package feature

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem/project"
)

// Stream declares a view as windowed aggregates over collected events,
// grouped by an entity key. The same definition is computed offline as
// SQL over the events table and online from the event log as it arrives.
type Stream struct {
	Event        string        `yaml:"event" json:"event"` // a tracked event, e.g. Product Viewed
	Key          string        `yaml:"key" json:"key"`     // user_id, anonymous_id or properties.<name>
	Aggregations []Aggregation `yaml:"aggregations" json:"aggregations"`
}

// Aggregation is one streaming feature: Function over the events of the
// last Window (an event at t counts at moments in [t, t+Window)).
type Aggregation struct {
	Name       string `yaml:"name" json:"name"`
	Function   string `yaml:"function" json:"function"` // count, sum, mean, min, max, last_distinct
	Column     string `yaml:"column" json:"column,omitempty"`
	WindowText string `yaml:"window" json:"window"`
	N          int    `yaml:"n" json:"n,omitempty"` // last_distinct: how many values (10)
	Line       int    `yaml:"-" json:"line"`

	Window time.Duration `yaml:"-" json:"-"`
}

func (a *Aggregation) UnmarshalYAML(n *yaml.Node) error {
	type plain Aggregation
	a.Line = n.Line
	return n.Decode((*plain)(a))
}

var aggTypes = map[string]string{"count": "int64", "sum": "float64", "mean": "float64", "min": "float64", "max": "float64", "last_distinct": "string_list"}

// eventField is the SQL (over the events table) and the path (in a log
// record's event) of a key or column: user_id, anonymous_id, or
// properties.<name>.
type eventField struct {
	Column   string // user_id, anonymous_id; empty for a property
	Property string
}

func parseField(s string) (eventField, bool) {
	switch s {
	case "user_id", "anonymous_id":
		return eventField{Column: s}, true
	}
	if p, ok := strings.CutPrefix(s, "properties."); ok && p != "" {
		return eventField{Property: p}, true
	}
	return eventField{}, false
}

func (f eventField) sql() string {
	if f.Column != "" {
		return f.Column
	}
	return fmt.Sprintf("json_extract_string(properties, %s)", project.QuoteString(`$."`+strings.ReplaceAll(f.Property, `"`, `\"`)+`"`))
}

func (r *Registry) resolveStream(p *project.Project, v *View, fail func(int, string, ...any) error) error {
	s := v.Stream
	if v.Source != "" || v.Timestamp != "" || len(v.Features) > 0 {
		return fail(0, "a stream view takes its source, timestamp and features from stream:; remove source, timestamp_field and features")
	}
	if s.Event == "" {
		return fail(0, "stream.event is missing: the tracked event to aggregate, e.g. Product Viewed")
	}
	if len(v.Keys) != 1 {
		return fail(0, "a stream view describes one entity with one join key; it has %d", len(v.Keys))
	}
	if _, ok := parseField(s.Key); !ok {
		return fail(0, "stream.key %q: use user_id, anonymous_id or properties.<name>", s.Key)
	}
	if len(s.Aggregations) == 0 {
		return fail(0, "stream.aggregations is missing")
	}
	seen := map[string]bool{}
	for i := range s.Aggregations {
		a := &s.Aggregations[i]
		typ, ok := aggTypes[a.Function]
		if !ok {
			return fail(a.Line, "aggregation %q: function %q is not count, sum, mean, min, max or last_distinct", a.Name, a.Function)
		}
		if a.Name == "" || seen[a.Name] {
			return fail(a.Line, "aggregation %q: each needs a name of its own", a.Name)
		}
		seen[a.Name] = true
		w, err := ParseDuration(a.WindowText)
		if err != nil || w <= 0 {
			return fail(a.Line, "aggregation %q: window %q: give a duration such as 1h, 1d or 7d", a.Name, a.WindowText)
		}
		a.Window = w
		if a.Function != "count" {
			if _, ok := parseField(a.Column); !ok {
				return fail(a.Line, "aggregation %q: column %q: use properties.<name> (or user_id, anonymous_id)", a.Name, a.Column)
			}
		}
		if a.Function == "last_distinct" && a.N <= 0 {
			a.N = 10
		}
		v.Features = append(v.Features, Feature{Name: a.Name, Type: typ, Line: a.Line})
	}
	v.Relation = project.QuoteIdent("events") + "." + project.QuoteIdent("events")
	v.Timestamp = "timestamp"
	return nil
}

// maxWindow is the longest window of a stream view.
func (s *Stream) maxWindow() time.Duration {
	var w time.Duration
	for _, a := range s.Aggregations {
		w = max(w, a.Window)
	}
	return w
}
