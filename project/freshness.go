package project

import (
	"fmt"
	"time"

	"github.com/tandem-data/tandem"
)

var periods = map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

// parseFreshness reads dbt's freshness block:
//
//	freshness:
//	  warn_after: {count: 12, period: hour}
//	  error_after: {count: 1, period: day}
//	  filter: "ts > now() - interval 2 day"
//
// nil (not set) gives nil; an explicit `freshness: null` also gives nil.
func parseFreshness(file string, line int, v any) (*tandem.Freshness, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "freshness must be a mapping with warn_after and/or error_after")
	}
	f := &tandem.Freshness{Filter: str(m["filter"])}
	for k, val := range m {
		switch k {
		case "warn_after", "error_after":
			d, err := parseAfter(val)
			if err != nil {
				return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "freshness %s: %v", k, err)
			}
			if k == "warn_after" {
				f.WarnAfter = d
			} else {
				f.ErrorAfter = d
			}
		case "filter":
		default:
			msg := fmt.Sprintf("unknown key %q in freshness", k)
			if near := nearest(k, []string{"warn_after", "error_after", "filter"}); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "%s", msg)
		}
	}
	if f.WarnAfter == 0 && f.ErrorAfter == 0 {
		return nil, nil
	}
	if f.WarnAfter > 0 && f.ErrorAfter > 0 && f.WarnAfter > f.ErrorAfter {
		return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "freshness warn_after (%s) is longer than error_after (%s)", f.WarnAfter, f.ErrorAfter)
	}
	return f, nil
}

func parseAfter(v any) (time.Duration, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("write {count: 12, period: hour}")
	}
	count, ok := m["count"].(int)
	if !ok || count < 1 {
		return 0, fmt.Errorf("count must be a whole number above 0, got %v", m["count"])
	}
	unit, ok := periods[str(m["period"])]
	if !ok {
		return 0, fmt.Errorf("period must be minute, hour or day, got %q", str(m["period"]))
	}
	return time.Duration(count) * unit, nil
}
