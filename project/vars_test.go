package project

import (
	"strings"
	"testing"
)

// TestCheckVarsFromOutside: vars sent over the API must be declared, of
// the declared kind, and hold nothing that can end an SQL literal.
func TestCheckVarsFromOutside(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": "name: p\nprofile: p\nvars:\n  start_date: '2010-12-01'\n  country: United Kingdom\n  min_qty: 1\n  debug: false\n",
		"models/a.sql":    "select 1",
	})
	p, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []map[string]any{
		{"start_date": "2011-01-01"}, {"start_date": "2011-01-01 10:00:00"}, {"country": "EIRE"}, {"country": "Channel Islands, UK"},
		{"min_qty": float64(3)}, {"debug": true}, {},
	} {
		if err := p.CheckVars(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		vars map[string]any
		want string
	}{
		{map[string]any{"start_date": "2000-01-01' and 1=1 union all select"}, "vars.start_date: want a date or timestamp, as declared (2010-12-01)"},
		{map[string]any{"country": "x' or '1'='1"}, `vars.country: "x' or '1'='1" holds a character`},
		{map[string]any{"country": "a; drop table t"}, "holds a character"},
		{map[string]any{"country": "a -- b"}, "holds a character"},
		{map[string]any{"min_qty": "1 or 1=1"}, "vars.min_qty: want a number"},
		{map[string]any{"debug": "yes"}, "vars.debug: want true or false"},
		{map[string]any{"start_dat": "2011-01-01"}, `vars.start_dat: the project declares no such var; did you mean "start_date"?`},
	} {
		err := p.CheckVars(c.vars)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.vars, err, c.want)
		}
	}
}
