package project

import (
	"fmt"
	"regexp"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
)

// reSafeVar is what a string var sent from outside may hold: it is rendered
// into model SQL as text, so nothing that can end a literal or a statement
// or start a comment (no quotes, semicolons, backslashes, dashes in pairs).
var reSafeVar = regexp.MustCompile(`^[A-Za-z0-9 _.:/+@,=-]{0,256}$`)

// CheckVars checks vars sent over the API against the vars the project
// declares (dbt_project.yml's vars:): each must be declared, of the
// declared value's kind (a date where the default is a date, a number
// where a number, true or false where a boolean), and a string holds only
// letters, digits, spaces and _ . : / + @ , = -. Vars given on the command
// line are the user's own and are not checked.
func (p *Project) CheckVars(vars map[string]any) error {
	for _, name := range sorted.Keys(vars) {
		v := vars[name]
		def, ok := p.Vars[name]
		if !ok {
			return tandem.Errorf(tandem.EINVALID, "vars.%s: the project declares no such var%s; declare it under vars: in dbt_project.yml", name, Suggest(name, sorted.Keys(p.Vars)))
		}
		if err := checkVar(def, v); err != nil {
			return tandem.Errorf(tandem.EINVALID, "vars.%s: %v", name, err)
		}
	}
	return nil
}

func checkVar(def, v any) error {
	switch d := def.(type) {
	case bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, as declared (%v), not %v", d, v)
		}
		return nil
	case int, int64, float64, uint64:
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("want a number, as declared (%v), not %v", d, v)
		}
		return nil
	case time.Time:
		s, ok := v.(string)
		if !ok || !isDate(s) {
			return fmt.Errorf("want a date or timestamp, as declared (%s), not %v", d.Format("2006-01-02"), v)
		}
		return nil
	case string:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, as declared (%q), not %v", d, v)
		}
		if isDate(d) && !isDate(s) {
			return fmt.Errorf("want a date or timestamp, as declared (%s), not %q", d, s)
		}
		if !reSafeVar.MatchString(s) || containsDoubleDash(s) {
			return fmt.Errorf("%q holds a character a var sent over the API may not (letters, digits, spaces and _ . : / + @ , = - only, no --; up to 256)", s)
		}
		return nil
	case nil:
		s, ok := v.(string)
		if _, num := v.(float64); num {
			return nil
		}
		if _, b := v.(bool); b {
			return nil
		}
		if !ok || !reSafeVar.MatchString(s) || containsDoubleDash(s) {
			return fmt.Errorf("%v holds a character a var sent over the API may not (letters, digits, spaces and _ . : / + @ , = - only, no --; up to 256)", v)
		}
		return nil
	}
	return fmt.Errorf("the declared value is a list or a map, which is not set over the API")
}

func containsDoubleDash(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '-' {
			return true
		}
	}
	return false
}

func isDate(s string) bool {
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
