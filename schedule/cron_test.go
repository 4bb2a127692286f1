package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, loc, s string) time.Time {
	t.Helper()
	l, err := time.LoadLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCronNext(t *testing.T) {
	for _, tc := range []struct {
		expr, tz, from string
		want           []string // successive runs, in the zone, "2006-01-02 15:04 MST"
	}{
		{"@hourly", "UTC", "2011-01-01 10:30", []string{"2011-01-01 11:00 UTC", "2011-01-01 12:00 UTC"}},
		{"@hourly", "UTC", "2011-01-01 11:00", []string{"2011-01-01 12:00 UTC"}}, // strictly after
		{"*/15 9-10 * * mon-fri", "UTC", "2011-01-07 10:50", []string{"2011-01-10 09:00 UTC", "2011-01-10 09:15 UTC"}},
		{"0 6 1 jan,jul *", "UTC", "2011-02-01 00:00", []string{"2011-07-01 06:00 UTC", "2012-01-01 06:00 UTC"}},
		{"0 0 29 2 *", "UTC", "2011-01-01 00:00", []string{"2012-02-29 00:00 UTC", "2016-02-29 00:00 UTC"}},    // leap days
		{"0 12 13 * fri", "UTC", "2011-05-01 00:00", []string{"2011-05-06 12:00 UTC", "2011-05-13 12:00 UTC"}}, // dom or dow
		{"59 23 31 12 7", "UTC", "2011-12-31 23:58", []string{"2011-12-31 23:59 UTC", "2012-12-02 23:59 UTC"}}, // 7 = Sunday; December only
		// London springs forward at 01:00 GMT on 2011-03-27: 01:30 does not exist that day.
		{"30 1 * * *", "Europe/London", "2011-03-26 12:00", []string{"2011-03-28 01:30 BST"}},
		{"@hourly", "Europe/London", "2011-03-27 00:30", []string{"2011-03-27 02:00 BST", "2011-03-27 03:00 BST"}},
		// London falls back at 02:00 BST on 2011-10-30: 01:30 happens twice, runs once.
		{"30 1 * * *", "Europe/London", "2011-10-29 12:00", []string{"2011-10-30 01:30 BST", "2011-10-31 01:30 GMT"}},
		{"@hourly", "Europe/London", "2011-10-30 00:30", []string{"2011-10-30 01:00 BST", "2011-10-30 02:00 GMT"}},
		{"30 1 * * *", "Europe/London", "2011-10-30 01:45", []string{"2011-10-31 01:30 GMT"}}, // from inside the repeated hour
		{"*/20 * * * *", "Europe/London", "2011-10-30 00:50", []string{"2011-10-30 01:00 BST", "2011-10-30 01:20 BST", "2011-10-30 01:40 BST", "2011-10-30 02:00 GMT"}},
		{"0 9 * * *", "America/New_York", "2011-03-12 10:00", []string{"2011-03-13 09:00 EDT", "2011-03-14 09:00 EDT"}},
	} {
		c, err := ParseCron(tc.expr, tc.tz)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		cur := mustTime(t, tc.tz, tc.from)
		var got []string
		for range tc.want {
			cur = c.Next(cur)
			got = append(got, cur.In(c.Location).Format("2006-01-02 15:04 MST"))
		}
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			t.Errorf("%q in %s from %s: got %v, want %v", tc.expr, tc.tz, tc.from, got, tc.want)
		}
	}
}

func TestCronErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"* * * *":     `cron "* * * *": want 5 fields`,
		"60 * * * *":  `cron "60 * * * *": minute field "60": out of range 0-59`,
		"* * * foo *": `cron "* * * foo *": month field "foo": "foo" is not a number`,
		"*/0 * * * *": `cron "*/0 * * * *": minute field "*/0": bad step "0"`,
		"5-1 * * * *": `cron "5-1 * * * *": minute field "5-1": out of range 0-59`,
	} {
		if _, err := ParseCron(expr, "UTC"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %q", expr, err, want)
		}
	}
	if _, err := ParseCron("@daily", "Mars/Olympus"); err == nil || !strings.Contains(err.Error(), `unknown time zone "Mars/Olympus"`) {
		t.Errorf("bad zone: %v", err)
	}
}
