package jinja

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // pytz.timezone must not depend on the host's zoneinfo
)

// This file is dbt's modules.datetime and modules.pytz: Python's date,
// datetime, timedelta and timezone, and pytz's time zones, with Python's
// printing, arithmetic and comparison, and pytz's quirks (a zone passed as
// tzinfo= takes the zone's first offset, its local mean time; localize()
// takes the offset in force at that wall time).

// Operand is implemented by values with arithmetic of their own. BinOp
// returns ok=false when the operation does not apply to other (Python's
// NotImplemented); reflected is true when the value is the right operand.
type Operand interface {
	BinOp(op string, other any, reflected bool) (v any, ok bool, err error)
}

// Ordered is implemented by values that order among themselves. Cmp returns
// an error for values Python refuses to compare.
type Ordered interface {
	Cmp(other any) (int, error)
}

// Equaler is implemented by values with an equality of their own.
type Equaler interface {
	Eq(other any) bool
}

// Typed names a Go value's Python type in messages.
type Typed interface {
	TypeName() string
}

// Clock is what datetime.now(), datetime.today() and date.today() read; a
// test may replace it.
var Clock = time.Now

// TZ is a tzinfo: a pytz zone or datetime.timezone's fixed offset.
type TZ struct {
	name  string
	loc   *time.Location // pytz zone; nil for a fixed offset
	fixed int            // seconds east of UTC, when loc is nil
}

// UTC is pytz.utc and datetime.timezone.utc.
var UTC = &TZ{name: "UTC", loc: time.UTC}

func (z *TZ) String() string { return z.name }

// TypeName implements Typed.
func (z *TZ) TypeName() string { return "tzinfo" }

// firstOffset is pytz's offset for a zone given as tzinfo=: the zone's first
// one (local mean time), rounded to whole minutes as pytz rounds it.
func (z *TZ) firstOffset() int {
	if z.loc == nil {
		return z.fixed
	}
	_, off := time.Date(1, 1, 1, 0, 0, 0, 0, z.loc).Zone()
	return floorDiv(off+30, 60) * 60
}

// offsetAt is the zone's abbreviation and offset in force at wall time w
// (pytz's localize).
func (z *TZ) offsetAt(w time.Time) (string, int) {
	if z.loc == nil {
		return z.name, z.fixed
	}
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), z.loc).Zone()
}

// first is the abbreviation and offset of a zone given as tzinfo=.
func (z *TZ) first() (string, int) {
	if z.loc == nil {
		return z.name, z.fixed
	}
	if z == UTC {
		return "UTC", 0
	}
	return "LMT", z.firstOffset()
}

// Attr implements Getter.
func (z *TZ) Attr(name string) (any, bool) {
	switch name {
	case "zone":
		return z.name, true
	case "localize":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "dt")
			dt, ok := v.(*DateTime)
			if !ok {
				return nil, fmt.Errorf("localize() expects a datetime, not %s", TypeName(v))
			}
			if dt.tz != nil {
				return nil, fmt.Errorf("ValueError: Not naive datetime (tzinfo is already set)")
			}
			abbr, off := z.offsetAt(dt.t)
			return dt.withZone(z, abbr, off), nil
		}), true
	case "normalize":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "dt")
			dt, ok := v.(*DateTime)
			if !ok || dt.tz == nil {
				return nil, fmt.Errorf("ValueError: Naive time - no tzinfo set")
			}
			return dt.in(z), nil
		}), true
	case "utcoffset":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "dt")
			if dt, ok := v.(*DateTime); ok {
				_, off := z.offsetAt(dt.t)
				return &TimeDelta{us: int64(off) * 1e6}, nil
			}
			return &TimeDelta{us: int64(z.firstOffset()) * 1e6}, nil
		}), true
	}
	return nil, false
}

// TimeDelta is Python's datetime.timedelta, held in microseconds.
type TimeDelta struct{ us int64 }

// TypeName implements Typed.
func (d *TimeDelta) TypeName() string { return "datetime.timedelta" }

func (d *TimeDelta) parts() (days, secs, us int64) {
	days = floorDiv64(d.us, 86400e6)
	rem := d.us - days*86400e6
	return days, rem / 1e6, rem % 1e6
}

func (d *TimeDelta) String() string {
	days, secs, us := d.parts()
	var b strings.Builder
	if days != 0 {
		plural := "s"
		if days == 1 || days == -1 {
			plural = ""
		}
		fmt.Fprintf(&b, "%d day%s, ", days, plural)
	}
	fmt.Fprintf(&b, "%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	if us != 0 {
		fmt.Fprintf(&b, ".%06d", us)
	}
	return b.String()
}

// Attr implements Getter.
func (d *TimeDelta) Attr(name string) (any, bool) {
	days, secs, us := d.parts()
	switch name {
	case "days":
		return days, true
	case "seconds":
		return secs, true
	case "microseconds":
		return us, true
	case "total_seconds":
		return Func(func(*Args) (any, error) { return float64(d.us) / 1e6, nil }), true
	}
	return nil, false
}

// BinOp implements Operand.
func (d *TimeDelta) BinOp(op string, other any, reflected bool) (any, bool, error) {
	switch o := other.(type) {
	case *TimeDelta:
		a, b := d.us, o.us
		if reflected {
			a, b = b, a
		}
		switch op {
		case "+":
			return &TimeDelta{a + b}, true, nil
		case "-":
			return &TimeDelta{a - b}, true, nil
		case "/":
			if b == 0 {
				return nil, true, fmt.Errorf("division by zero")
			}
			return float64(a) / float64(b), true, nil
		case "//":
			if b == 0 {
				return nil, true, fmt.Errorf("integer division or modulo by zero")
			}
			return floorDiv64(a, b), true, nil
		}
	case int64, bool:
		n, _ := intOf(o)
		switch {
		case op == "*":
			return &TimeDelta{d.us * n}, true, nil
		case op == "//" && !reflected:
			if n == 0 {
				return nil, true, fmt.Errorf("integer division or modulo by zero")
			}
			return &TimeDelta{floorDiv64(d.us, n)}, true, nil
		}
	case float64:
		switch {
		case op == "*":
			return &TimeDelta{int64(float64(d.us)*o + 0.5)}, true, nil
		case op == "/" && !reflected:
			if o == 0 {
				return nil, true, fmt.Errorf("division by zero")
			}
			return &TimeDelta{int64(float64(d.us)/o + 0.5)}, true, nil
		}
	}
	return nil, false, nil
}

// Cmp implements Ordered.
func (d *TimeDelta) Cmp(other any) (int, error) {
	if o, ok := other.(*TimeDelta); ok {
		return cmpOrdered(d.us, o.us), nil
	}
	return 0, errNotOrdered
}

// Eq implements Equaler.
func (d *TimeDelta) Eq(other any) bool {
	o, ok := other.(*TimeDelta)
	return ok && o.us == d.us
}

var errNotOrdered = fmt.Errorf("not ordered")

// Date is Python's datetime.date.
type Date struct{ t time.Time } // midnight UTC

// TypeName implements Typed.
func (d *Date) TypeName() string { return "datetime.date" }

func (d *Date) String() string { return d.t.Format("2006-01-02") }

// Attr implements Getter.
func (d *Date) Attr(name string) (any, bool) {
	switch name {
	case "year":
		return int64(d.t.Year()), true
	case "month":
		return int64(d.t.Month()), true
	case "day":
		return int64(d.t.Day()), true
	case "isoformat":
		return Func(func(*Args) (any, error) { return d.String(), nil }), true
	case "strftime":
		return Func(func(a *Args) (any, error) {
			f, _, err := argStr(a, 0, "format", "strftime")
			return strftime(d.t, f, nil), err
		}), true
	case "weekday":
		return Func(func(*Args) (any, error) { return int64((d.t.Weekday() + 6) % 7), nil }), true
	case "isoweekday":
		return Func(func(*Args) (any, error) { return int64((d.t.Weekday()+6)%7 + 1), nil }), true
	case "toordinal":
		return Func(func(*Args) (any, error) { return int64(d.t.Sub(ordinalEpoch)/(24*time.Hour)) + 1, nil }), true
	case "replace":
		return Func(func(a *Args) (any, error) {
			t, err := replaceFields(d.t, a, false)
			if err != nil {
				return nil, err
			}
			return &Date{t}, nil
		}), true
	}
	return nil, false
}

var ordinalEpoch = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// BinOp implements Operand.
func (d *Date) BinOp(op string, other any, reflected bool) (any, bool, error) {
	switch o := other.(type) {
	case *TimeDelta:
		days := floorDiv64(o.us, 86400e6)
		switch {
		case op == "+":
			return &Date{d.t.AddDate(0, 0, int(days))}, true, nil
		case op == "-" && !reflected:
			return &Date{d.t.AddDate(0, 0, int(-days))}, true, nil
		}
	case *Date:
		if op == "-" {
			us := d.t.Sub(o.t).Microseconds()
			if reflected {
				us = -us
			}
			return &TimeDelta{us}, true, nil
		}
	}
	return nil, false, nil
}

// Cmp implements Ordered.
func (d *Date) Cmp(other any) (int, error) {
	if o, ok := other.(*Date); ok {
		return d.t.Compare(o.t), nil
	}
	return 0, errNotOrdered
}

// Eq implements Equaler.
func (d *Date) Eq(other any) bool {
	o, ok := other.(*Date)
	return ok && o.t.Equal(d.t)
}

// DateTime is Python's datetime.datetime: a wall time, naive or with a
// tzinfo and the UTC offset it gave.
type DateTime struct {
	t  time.Time // the wall time, in a fixed zone of the offset (UTC when naive)
	tz *TZ
}

// NewDateTime is the aware datetime of t in UTC (dbt's run_started_at).
func NewDateTime(t time.Time) *DateTime {
	return &DateTime{t: t.UTC(), tz: UTC}
}

// TypeName implements Typed.
func (dt *DateTime) TypeName() string { return "datetime.datetime" }

func (dt *DateTime) withZone(z *TZ, abbr string, off int) *DateTime {
	w := dt.t
	return &DateTime{t: time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.FixedZone(abbr, off)), tz: z}
}

// in converts an aware datetime to zone z (astimezone).
func (dt *DateTime) in(z *TZ) *DateTime {
	if z.loc == nil {
		return &DateTime{t: dt.t.In(time.FixedZone(z.name, z.fixed)), tz: z}
	}
	t := dt.t.In(z.loc)
	abbr, off := t.Zone()
	return &DateTime{t: t.In(time.FixedZone(abbr, off)), tz: z}
}

func (dt *DateTime) offset() int {
	_, off := dt.t.Zone()
	return off
}

func (dt *DateTime) isoformat(sep string) string {
	var b strings.Builder
	b.WriteString(dt.t.Format("2006-01-02"))
	b.WriteString(sep)
	b.WriteString(dt.t.Format("15:04:05"))
	if us := dt.t.Nanosecond() / 1000; us != 0 {
		fmt.Fprintf(&b, ".%06d", us)
	}
	if dt.tz != nil {
		b.WriteString(formatOffset(dt.offset(), ":"))
	}
	return b.String()
}

func (dt *DateTime) String() string { return dt.isoformat(" ") }

func formatOffset(off int, sep string) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := fmt.Sprintf("%s%02d%s%02d", sign, off/3600, sep, off/60%60)
	if off%60 != 0 {
		s += fmt.Sprintf("%s%02d", sep, off%60)
	}
	return s
}

// Attr implements Getter.
func (dt *DateTime) Attr(name string) (any, bool) {
	t := dt.t
	switch name {
	case "year":
		return int64(t.Year()), true
	case "month":
		return int64(t.Month()), true
	case "day":
		return int64(t.Day()), true
	case "hour":
		return int64(t.Hour()), true
	case "minute":
		return int64(t.Minute()), true
	case "second":
		return int64(t.Second()), true
	case "microsecond":
		return int64(t.Nanosecond() / 1000), true
	case "tzinfo":
		if dt.tz == nil {
			return nil, true
		}
		return dt.tz, true
	case "isoformat":
		return Func(func(a *Args) (any, error) {
			sep, ok, err := argStr(a, 0, "sep", "isoformat")
			if !ok {
				sep = "T"
			}
			return dt.isoformat(sep), err
		}), true
	case "strftime":
		return Func(func(a *Args) (any, error) {
			f, _, err := argStr(a, 0, "format", "strftime")
			return strftime(t, f, dt.tz), err
		}), true
	case "date":
		return Func(func(*Args) (any, error) {
			return &Date{time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)}, nil
		}), true
	case "weekday":
		return Func(func(*Args) (any, error) { return int64((t.Weekday() + 6) % 7), nil }), true
	case "isoweekday":
		return Func(func(*Args) (any, error) { return int64((t.Weekday()+6)%7 + 1), nil }), true
	case "timestamp":
		return Func(func(*Args) (any, error) {
			u := t
			if dt.tz == nil { // a naive datetime is local time, as Python takes it
				u = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
			}
			return float64(u.UnixMicro()) / 1e6, nil
		}), true
	case "utcoffset":
		return Func(func(*Args) (any, error) {
			if dt.tz == nil {
				return nil, nil
			}
			return &TimeDelta{int64(dt.offset()) * 1e6}, nil
		}), true
	case "tzname":
		return Func(func(*Args) (any, error) {
			if dt.tz == nil {
				return nil, nil
			}
			n, _ := t.Zone()
			return n, nil
		}), true
	case "astimezone":
		return Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "tz")
			z, ok := v.(*TZ)
			if !ok {
				return nil, fmt.Errorf("astimezone() argument 1 must be a tzinfo, not %s", TypeName(v))
			}
			if dt.tz == nil {
				return nil, fmt.Errorf("astimezone() of a naive datetime is not supported in templates: localize it first")
			}
			return dt.in(z), nil
		}), true
	case "replace":
		return Func(func(a *Args) (any, error) {
			w, err := replaceFields(t, a, true)
			if err != nil {
				return nil, err
			}
			out := &DateTime{t: w, tz: dt.tz}
			if v, ok := a.Kwarg("tzinfo"); ok {
				z, isTZ := v.(*TZ)
				if v != nil && !isTZ {
					return nil, fmt.Errorf("tzinfo argument must be None or of a tzinfo subclass, not type '%s'", TypeName(v))
				}
				out.tz = z
			}
			if out.tz == nil {
				out.t = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
				return out, nil
			}
			abbr, off := w.Zone()
			if out.tz != dt.tz {
				abbr, off = out.tz.first()
			}
			return out.withZone(out.tz, abbr, off), nil
		}), true
	}
	return nil, false
}

// BinOp implements Operand.
func (dt *DateTime) BinOp(op string, other any, reflected bool) (any, bool, error) {
	switch o := other.(type) {
	case *TimeDelta:
		switch {
		case op == "+":
			return &DateTime{t: dt.t.Add(time.Duration(o.us) * time.Microsecond), tz: dt.tz}, true, nil
		case op == "-" && !reflected:
			return &DateTime{t: dt.t.Add(-time.Duration(o.us) * time.Microsecond), tz: dt.tz}, true, nil
		}
	case *DateTime:
		if op == "-" {
			if (dt.tz == nil) != (o.tz == nil) {
				return nil, true, fmt.Errorf("can't subtract offset-naive and offset-aware datetimes")
			}
			us := dt.t.Sub(o.t).Microseconds()
			if reflected {
				us = -us
			}
			return &TimeDelta{us}, true, nil
		}
	}
	return nil, false, nil
}

// Cmp implements Ordered.
func (dt *DateTime) Cmp(other any) (int, error) {
	o, ok := other.(*DateTime)
	if !ok {
		return 0, errNotOrdered
	}
	if (dt.tz == nil) != (o.tz == nil) {
		return 0, fmt.Errorf("can't compare offset-naive and offset-aware datetimes")
	}
	return dt.t.Compare(o.t), nil
}

// Eq implements Equaler.
func (dt *DateTime) Eq(other any) bool {
	o, ok := other.(*DateTime)
	return ok && (dt.tz == nil) == (o.tz == nil) && dt.t.Equal(o.t)
}

// replaceFields is date.replace and datetime.replace.
func replaceFields(t time.Time, a *Args, clock bool) (time.Time, error) {
	names := []string{"year", "month", "day"}
	if clock {
		names = append(names, "hour", "minute", "second", "microsecond")
	}
	f := []int{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1000}
	for i, n := range names {
		v, ok := a.Arg(i, n)
		if !ok {
			continue
		}
		x, isInt := intOf(v)
		if !isInt {
			return t, fmt.Errorf("'%s' must be an integer, not %s", n, TypeName(v))
		}
		f[i] = int(x)
	}
	if err := checkFields(f); err != nil {
		return t, err
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, t.Location()), nil
}

func checkFields(f []int) error {
	lim := []struct {
		name   string
		lo, hi int
	}{{"year", 1, 9999}, {"month", 1, 12}, {"day", 1, 31}, {"hour", 0, 23}, {"minute", 0, 59}, {"second", 0, 59}, {"microsecond", 0, 999999}}
	for i, v := range f {
		if v < lim[i].lo || v > lim[i].hi {
			return fmt.Errorf("ValueError: %s must be in %d..%d", lim[i].name, lim[i].lo, lim[i].hi)
		}
	}
	if t := time.Date(f[0], time.Month(f[1]), f[2], 0, 0, 0, 0, time.UTC); t.Day() != f[2] {
		return fmt.Errorf("ValueError: day is out of range for month")
	}
	return nil
}

// class is a Python type: callable, with class methods as attributes.
type class struct {
	name  string
	new   Func
	attrs map[string]any
}

func (c *class) Call(a *Args) (any, error) { return c.new(a) }
func (c *class) TypeName() string          { return "type" }
func (c *class) String() string            { return "<class '" + c.name + "'>" }
func (c *class) Attr(name string) (any, bool) {
	v, ok := c.attrs[name]
	return v, ok
}

// DatetimeModule is dbt's modules.datetime.
func DatetimeModule() *Dict {
	d := NewDict()
	naive := func(t time.Time) *DateTime {
		return &DateTime{t: time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000*1000, time.UTC)}
	}
	now := Func(func(a *Args) (any, error) {
		v, _ := a.Arg(0, "tz")
		if v == nil {
			return naive(Clock()), nil
		}
		z, ok := v.(*TZ)
		if !ok {
			return nil, fmt.Errorf("tzinfo argument must be None or of a tzinfo subclass, not type '%s'", TypeName(v))
		}
		return NewDateTime(Clock().Truncate(time.Microsecond)).in(z), nil
	})
	date := &class{name: "datetime.date", new: func(a *Args) (any, error) {
		f := []int{0, 0, 0, 0, 0, 0, 0}
		for i, n := range []string{"year", "month", "day"} {
			v, ok := a.Arg(i, n)
			x, isInt := intOf(v)
			if !ok || !isInt {
				return nil, fmt.Errorf("date() argument '%s' must be an integer, not %s", n, TypeName(v))
			}
			f[i] = int(x)
		}
		if err := checkFields(f[:3]); err != nil {
			return nil, err
		}
		return &Date{time.Date(f[0], time.Month(f[1]), f[2], 0, 0, 0, 0, time.UTC)}, nil
	}, attrs: map[string]any{
		"today": Func(func(*Args) (any, error) {
			t := Clock()
			return &Date{time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)}, nil
		}),
		"fromisoformat": Func(func(a *Args) (any, error) {
			s, _, err := argStr(a, 0, "date_string", "fromisoformat")
			if err != nil {
				return nil, err
			}
			dt, err := parseISO(s, false)
			if err != nil {
				return nil, err
			}
			return &Date{time.Date(dt.t.Year(), dt.t.Month(), dt.t.Day(), 0, 0, 0, 0, time.UTC)}, nil
		}),
	}}
	datetime := &class{name: "datetime.datetime", new: func(a *Args) (any, error) {
		f := []int{0, 0, 0, 0, 0, 0, 0}
		for i, n := range []string{"year", "month", "day", "hour", "minute", "second", "microsecond"} {
			v, ok := a.Arg(i, n)
			if !ok {
				if i < 3 {
					return nil, fmt.Errorf("datetime() missing required argument '%s'", n)
				}
				continue
			}
			x, isInt := intOf(v)
			if !isInt {
				return nil, fmt.Errorf("datetime() argument '%s' must be an integer, not %s", n, TypeName(v))
			}
			f[i] = int(x)
		}
		if err := checkFields(f); err != nil {
			return nil, err
		}
		dt := &DateTime{t: time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, time.UTC)}
		if v, ok := a.Arg(7, "tzinfo"); ok && v != nil {
			z, isTZ := v.(*TZ)
			if !isTZ {
				return nil, fmt.Errorf("tzinfo argument must be None or of a tzinfo subclass, not type '%s'", TypeName(v))
			}
			abbr, off := z.first()
			return dt.withZone(z, abbr, off), nil
		}
		return dt, nil
	}, attrs: map[string]any{
		"now":    now,
		"today":  Func(func(*Args) (any, error) { return naive(Clock()), nil }),
		"utcnow": Func(func(*Args) (any, error) { return naive(Clock().UTC()), nil }),
		"strptime": Func(func(a *Args) (any, error) {
			s, _, err := argStr(a, 0, "date_string", "strptime")
			if err != nil {
				return nil, err
			}
			f, _, err := argStr(a, 1, "format", "strptime")
			if err != nil {
				return nil, err
			}
			return strptime(s, f)
		}),
		"fromisoformat": Func(func(a *Args) (any, error) {
			s, _, err := argStr(a, 0, "date_string", "fromisoformat")
			if err != nil {
				return nil, err
			}
			return parseISO(s, true)
		}),
		"fromtimestamp": Func(func(a *Args) (any, error) {
			v, _ := a.Arg(0, "timestamp")
			ts, ok := number(v)
			if !ok {
				return nil, fmt.Errorf("fromtimestamp() argument must be a number, not %s", TypeName(v))
			}
			t := time.UnixMicro(int64(ts * 1e6))
			if zv, _ := a.Arg(1, "tz"); zv != nil {
				z, isTZ := zv.(*TZ)
				if !isTZ {
					return nil, fmt.Errorf("tzinfo argument must be None or of a tzinfo subclass, not type '%s'", TypeName(zv))
				}
				return NewDateTime(t).in(z), nil
			}
			return naive(t.Local()), nil
		}),
	}}
	_ = d.Set("date", date)
	_ = d.Set("datetime", datetime)
	_ = d.Set("timedelta", &class{name: "datetime.timedelta", new: func(a *Args) (any, error) {
		units := []struct {
			name string
			us   float64
		}{{"days", 86400e6}, {"seconds", 1e6}, {"microseconds", 1}, {"milliseconds", 1e3}, {"minutes", 60e6}, {"hours", 3600e6}, {"weeks", 7 * 86400e6}}
		var total int64
		var frac float64
		for i, u := range units {
			v, ok := a.Arg(i, u.name)
			if !ok {
				continue
			}
			if n, isInt := intOf(v); isInt {
				total += n * int64(u.us)
			} else if f, isNum := number(v); isNum {
				frac += f * u.us
			} else {
				return nil, fmt.Errorf("unsupported type for timedelta %s component: %s", u.name, TypeName(v))
			}
		}
		if frac != 0 {
			total += int64(frac + 0.5)
		}
		return &TimeDelta{total}, nil
	}, attrs: map[string]any{}})
	_ = d.Set("timezone", &class{name: "datetime.timezone", new: func(a *Args) (any, error) {
		v, _ := a.Arg(0, "offset")
		td, ok := v.(*TimeDelta)
		if !ok {
			return nil, fmt.Errorf("timezone() argument 1 must be datetime.timedelta, not %s", TypeName(v))
		}
		off := int(td.us / 1e6)
		return &TZ{name: "UTC" + formatOffset(off, ":"), fixed: off}, nil
	}, attrs: map[string]any{"utc": UTC}})
	_ = d.Set("MINYEAR", int64(1))
	_ = d.Set("MAXYEAR", int64(9999))
	return d
}

// PytzModule is dbt's modules.pytz.
func PytzModule() *Dict {
	d := NewDict()
	_ = d.Set("timezone", Func(func(a *Args) (any, error) {
		name, _, err := argStr(a, 0, "zone", "timezone")
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(name, "utc") {
			return UTC, nil
		}
		loc, err := time.LoadLocation(name)
		if err != nil || name == "" || name == "Local" {
			return nil, fmt.Errorf("pytz.UnknownTimeZoneError: %s", strRepr(name))
		}
		return &TZ{name: name, loc: loc}, nil
	}))
	_ = d.Set("utc", UTC)
	_ = d.Set("UTC", UTC)
	return d
}

var weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
var months = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// strftime is Python's strftime with the C locale.
func strftime(t time.Time, f string, tz *TZ) string {
	var b strings.Builder
	wd := int(t.Weekday()+6) % 7
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'a':
			b.WriteString(weekdays[wd][:3])
		case 'A':
			b.WriteString(weekdays[wd])
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'u':
			fmt.Fprintf(&b, "%d", wd+1)
		case 'b', 'h':
			b.WriteString(months[t.Month()-1][:3])
		case 'B':
			b.WriteString(months[t.Month()-1])
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'U':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-int(t.Weekday()))/7)
		case 'W':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-wd)/7)
		case 'V':
			_, w := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", w)
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%d", y)
		case 'z':
			if tz != nil {
				_, off := t.Zone()
				b.WriteString(formatOffset(off, ""))
			}
		case 'Z':
			if tz != nil {
				n, _ := t.Zone()
				b.WriteString(n)
			}
		case 'c':
			b.WriteString(strftime(t, "%a %b %e %H:%M:%S %Y", tz))
		case 'x':
			b.WriteString(strftime(t, "%m/%d/%y", tz))
		case 'X':
			b.WriteString(strftime(t, "%H:%M:%S", tz))
		case 'F':
			b.WriteString(strftime(t, "%Y-%m-%d", tz))
		case 'T':
			b.WriteString(strftime(t, "%H:%M:%S", tz))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// strptime is Python's datetime.strptime for the directives dbt projects use.
func strptime(s, f string) (any, error) {
	fail := func() (any, error) {
		return nil, fmt.Errorf("ValueError: time data %s does not match format %s", strRepr(s), strRepr(f))
	}
	fld := []int{1900, 1, 1, 0, 0, 0, 0}
	pm, twelve := -1, false
	var tz *TZ
	off := 0
	pos := 0
	num := func(maxDigits int) (int, bool) {
		start := pos
		for pos < len(s) && pos-start < maxDigits && s[pos] >= '0' && s[pos] <= '9' {
			pos++
		}
		if pos == start {
			return 0, false
		}
		n, _ := strconv.Atoi(s[start:pos])
		return n, true
	}
	word := func(names []string) (int, bool) {
		for i, n := range names {
			for _, cand := range []string{n, n[:min(3, len(n))]} {
				if len(s)-pos >= len(cand) && strings.EqualFold(s[pos:pos+len(cand)], cand) {
					pos += len(cand)
					return i, true
				}
			}
		}
		return 0, false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == ' ' {
			for pos < len(s) && s[pos] == ' ' {
				pos++
			}
			continue
		}
		if c != '%' || i+1 == len(f) {
			if pos >= len(s) || s[pos] != c {
				return fail()
			}
			pos++
			continue
		}
		i++
		var ok bool
		var n int
		switch f[i] {
		case 'Y':
			n, ok = num(4)
			fld[0] = n
		case 'y':
			n, ok = num(2)
			if n < 69 {
				fld[0] = 2000 + n
			} else {
				fld[0] = 1900 + n
			}
		case 'm':
			fld[1], ok = num(2)
		case 'd':
			fld[2], ok = num(2)
		case 'H':
			fld[3], ok = num(2)
		case 'I':
			fld[3], ok = num(2)
			twelve = true
		case 'M':
			fld[4], ok = num(2)
		case 'S':
			fld[5], ok = num(2)
		case 'f':
			start := pos
			n, ok = num(6)
			for d := pos - start; d < 6; d++ {
				n *= 10
			}
			fld[6] = n
		case 'p':
			var k int
			k, ok = word([]string{"AM", "PM"})
			pm = k
		case 'b', 'B', 'h':
			var k int
			k, ok = word(months)
			fld[1] = k + 1
		case 'a', 'A':
			_, ok = word(weekdays)
		case 'j':
			n, ok = num(3)
			if ok {
				t := time.Date(fld[0], 1, n, 0, 0, 0, 0, time.UTC)
				fld[1], fld[2] = int(t.Month()), t.Day()
			}
		case 'z':
			if pos < len(s) && (s[pos] == 'Z' || s[pos] == 'z') {
				pos++
				tz, ok = UTC, true
				break
			}
			if pos >= len(s) || (s[pos] != '+' && s[pos] != '-') {
				return fail()
			}
			sign := 1
			if s[pos] == '-' {
				sign = -1
			}
			pos++
			h, okh := num(2)
			if pos < len(s) && s[pos] == ':' {
				pos++
			}
			m, okm := num(2)
			ok = okh && okm
			off = sign * (h*3600 + m*60)
			tz = &TZ{name: "UTC" + formatOffset(off, ":"), fixed: off}
			if off == 0 {
				tz = UTC
			}
		case '%':
			ok = pos < len(s) && s[pos] == '%'
			pos++
		default:
			return nil, fmt.Errorf("ValueError: '%c' is a bad directive in format %s", f[i], strRepr(f))
		}
		if !ok {
			return fail()
		}
	}
	if pos != len(s) {
		return nil, fmt.Errorf("ValueError: unconverted data remains: %s", s[pos:])
	}
	if twelve && pm >= 0 {
		fld[3] = fld[3]%12 + 12*pm
	}
	if err := checkFields(fld); err != nil {
		return nil, err
	}
	dt := &DateTime{t: time.Date(fld[0], time.Month(fld[1]), fld[2], fld[3], fld[4], fld[5], fld[6]*1000, time.UTC)}
	if tz != nil {
		return dt.withZone(tz, tz.name, off), nil
	}
	return dt, nil
}

// parseISO is datetime.fromisoformat (Python 3.11: a date, a date and a
// time separated by any one character, an offset or Z).
func parseISO(s string, withTime bool) (*DateTime, error) {
	bad := fmt.Errorf("ValueError: Invalid isoformat string: %s", strRepr(s))
	digits := func(p string) (int, bool) {
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, err := strconv.Atoi(p)
		return n, err == nil && p != ""
	}
	datePart, rest := s, ""
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		datePart, rest = s[:4]+s[5:7]+s[8:10], s[10:]
	case len(s) >= 8:
		datePart, rest = s[:8], s[8:]
	default:
		return nil, bad
	}
	y, ok1 := digits(datePart[:4])
	m, ok2 := digits(datePart[4:6])
	d, ok3 := digits(datePart[6:8])
	if !ok1 || !ok2 || !ok3 {
		return nil, bad
	}
	f := []int{y, m, d, 0, 0, 0, 0}
	var tz *TZ
	off := 0
	if rest != "" {
		if !withTime {
			return nil, bad
		}
		rest = rest[1:] // any one separator character
		if i := strings.IndexAny(rest, "+-Zz"); i >= 0 {
			zone := rest[i:]
			rest = rest[:i]
			if zone == "Z" || zone == "z" {
				tz = UTC
			} else {
				sign := 1
				if zone[0] == '-' {
					sign = -1
				}
				z := strings.ReplaceAll(zone[1:], ":", "")
				if len(z) != 4 && len(z) != 6 {
					return nil, bad
				}
				h, _ := digits(z[:2])
				mi, _ := digits(z[2:4])
				sec := 0
				if len(z) == 6 {
					sec, _ = digits(z[4:])
				}
				off = sign * (h*3600 + mi*60 + sec)
				tz = &TZ{name: "UTC" + formatOffset(off, ":"), fixed: off}
				if off == 0 {
					tz = UTC
				}
			}
		}
		frac := ""
		if i := strings.IndexAny(rest, ".,"); i >= 0 {
			rest, frac = rest[:i], rest[i+1:]
		}
		clock := strings.ReplaceAll(rest, ":", "")
		if len(clock) != 2 && len(clock) != 4 && len(clock) != 6 {
			return nil, bad
		}
		for i := 0; i < len(clock); i += 2 {
			n, ok := digits(clock[i : i+2])
			if !ok {
				return nil, bad
			}
			f[3+i/2] = n
		}
		if frac != "" {
			if len(frac) > 6 {
				frac = frac[:6]
			}
			n, ok := digits(frac)
			if !ok {
				return nil, bad
			}
			for k := len(frac); k < 6; k++ {
				n *= 10
			}
			f[6] = n
		}
	}
	if err := checkFields(f); err != nil {
		return nil, err
	}
	dt := &DateTime{t: time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, time.UTC)}
	if tz != nil {
		return dt.withZone(tz, tz.name, off), nil
	}
	return dt, nil
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorDiv64(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
