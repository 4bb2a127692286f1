// Package schedule decides when jobs run: cron expressions in a time zone,
// catch-up after downtime, overlap policies, backfill intervals, freshness
// SLAs and the alerts they raise.
//
// It never runs SQL itself: it hands runs to an Executor. Time is injected
// (Tick takes "now"), so an hour of 500 jobs is simulated in milliseconds.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
)

// Cron is a parsed five-field cron expression (minute hour day-of-month
// month day-of-week) evaluated in a time zone.
type Cron struct {
	Expr                          string
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
	Location                      *time.Location
}

var shortcuts = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParseCron parses expr ("*/15 9-17 * * mon-fri", "@hourly") for the time
// zone tz (an IANA name; "" is UTC).
func ParseCron(expr, tz string) (*Cron, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "unknown time zone %q: use an IANA name like Europe/London or UTC", tz)
		}
		loc = l
	}
	spec := strings.TrimSpace(expr)
	if s, ok := shortcuts[strings.ToLower(spec)]; ok {
		spec = s
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, tandem.Errorf(tandem.EINVALID, "cron %q: want 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly", expr)
	}
	c := &Cron{Expr: expr, Location: loc}
	var err error
	parts := []struct {
		name     string
		dst      *uint64
		lo, hi   int
		names    map[string]int
		starFlag *bool
	}{
		{"minute", &c.minute, 0, 59, nil, nil},
		{"hour", &c.hour, 0, 23, nil, nil},
		{"day-of-month", &c.dom, 1, 31, nil, &c.domStar},
		{"month", &c.month, 1, 12, monthNames, nil},
		{"day-of-week", &c.dow, 0, 7, dayNames, &c.dowStar},
	}
	for i, p := range parts {
		if *p.dst, err = parseField(fields[i], p.lo, p.hi, p.names); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "cron %q: %s field %q: %v", expr, p.name, fields[i], err)
		}
		if p.starFlag != nil {
			*p.starFlag = fields[i] == "*" || strings.HasPrefix(fields[i], "*/")
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	return c, nil
}

func parseField(f string, lo, hi int, names map[string]int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			s, err := strconv.Atoi(stepStr)
			if err != nil || s < 1 {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = s
		}
		start, end := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if start, err = value(a, names); err != nil {
				return 0, err
			}
			end = start
			if isRange {
				if end, err = value(b, names); err != nil {
					return 0, err
				}
			} else if hasStep {
				end = hi
			}
		}
		if start < lo || end > hi || start > end {
			return 0, fmt.Errorf("out of range %d-%d", lo, hi)
		}
		for v := start; v <= end; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func value(s string, names map[string]int) (int, error) {
	if v, ok := names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	// As in Vixie cron: when both are restricted, either may match.
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first time strictly after t that the expression names,
// in wall-clock time of its zone. A wall-clock time that a DST change skips
// does not happen; one that a DST change repeats happens once.
func (c *Cron) Next(t time.Time) time.Time {
	loc := c.Location
	t = t.In(loc)
	// Start at the next whole minute after t.
	// (In absolute time: every zone's offset is whole minutes, and
	// time.Date could land on the second pass of a repeated hour.)
	cur := t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for cur.Before(limit) {
		switch {
		case c.month&(1<<uint(cur.Month())) == 0:
			cur = firstPass(time.Date(cur.Year(), cur.Month()+1, 1, 0, 0, 0, 0, loc))
		case !c.dayMatches(cur):
			cur = firstPass(time.Date(cur.Year(), cur.Month(), cur.Day()+1, 0, 0, 0, 0, loc))
		case c.hour&(1<<uint(cur.Hour())) == 0:
			next := firstPass(time.Date(cur.Year(), cur.Month(), cur.Day(), cur.Hour()+1, 0, 0, 0, loc))
			if !next.After(cur) { // a repeated hour: step over it
				next = cur.Add(time.Hour).Truncate(time.Hour)
			}
			cur = next
		case c.minute&(1<<uint(cur.Minute())) == 0:
			cur = cur.Add(time.Minute)
		case repeatedWallClock(cur):
			cur = cur.Add(time.Minute)
		default:
			if cur.After(t) {
				return cur
			}
			cur = cur.Add(time.Minute)
		}
	}
	return time.Time{}
}

// firstPass returns the first instant with t's wall-clock time: Go's
// time.Date may resolve a repeated wall-clock time to its second pass.
func firstPass(t time.Time) time.Time {
	for _, d := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		e := t.Add(-d)
		if e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Day() == t.Day() {
			return e
		}
	}
	return t
}

// repeatedWallClock reports whether t's wall-clock time already happened a
// little earlier: the second pass through an hour that a DST change repeats.
// (Shifts are 30 minutes, 1 or 2 hours in the zones that have them.)
func repeatedWallClock(t time.Time) bool {
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-d)
		if e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Day() == t.Day() {
			return true
		}
	}
	return false
}
