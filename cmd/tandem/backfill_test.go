package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// events writes 60 days of events, three a day; poison makes day 30's
// value unreadable as a number.
func events(poison bool) string {
	var b strings.Builder
	b.WriteString("ts,id,value\n")
	day := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 60; d++ {
		for k := 0; k < 3; k++ {
			v := fmt.Sprint(d*10 + k)
			if poison && d == 29 && k == 1 {
				v = "oops"
			}
			fmt.Fprintf(&b, "%s,%d,%s\n", day.AddDate(0, 0, d).Add(time.Duration(k*7)*time.Hour).Format(time.DateTime), d*3+k, v)
		}
	}
	return b.String()
}

func backfillProject(t *testing.T, poison bool) string {
	return newProject(t, map[string]string{
		"data/events.csv": events(poison),
		"models/sources.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n" +
			"        meta:\n          external_location: \"read_csv('data/events.csv', header = true, all_varchar = true)\"\n",
		"models/daily.sql": "{{ config(materialized='incremental', time_column='ts') }}\n" +
			"select ts::timestamp as ts, id::int as id, value::int * 2 as doubled\nfrom {{ source('raw', 'events') }}\n" +
			"{% if var('start', none) %}where ts::timestamp >= '{{ var('start') }}' and ts::timestamp < '{{ var('end') }}'{% endif %}\n",
	})
}

func TestBackfillResumesAfterFailure(t *testing.T) {
	args := func(dir string) []string {
		return []string{"backfill", "daily", "--start", "2011-01-01", "--end", "2011-03-02", "--batch", "1d", "--project-dir", dir}
	}
	// A clean run, for comparison.
	clean := backfillProject(t, false)
	if out := mustRun(t, args(clean)...); !strings.Contains(out, "60 intervals of 1d") || !strings.Contains(out, "Backfill done: 180 rows") {
		t.Fatalf("clean backfill:\n%s", out)
	}
	dir := backfillProject(t, true)
	out, _, code := tandemCLI(t, args(dir)...)
	if code != 1 || !strings.Contains(out, "30/60 ERROR 2011-01-30 00:00:00 to 2011-01-31 00:00:00") || strings.Contains(out, "31/60") ||
		!strings.Contains(out, `Could not convert string 'oops' to INT32`) {
		t.Fatalf("failing backfill: exit %d\n%s", code, out)
	}
	if got := query(t, dir, "select count(*) from {{ ref('daily') }}")[0][0]; got != float64(87) {
		t.Errorf("after the failure the table has %v rows, want the 29 finished days (87)", got)
	}
	writeFiles(t, dir, map[string]string{"data/events.csv": events(false)})
	out = mustRun(t, args(dir)...)
	if !strings.Contains(out, "  30/60 OK    2011-01-30") || strings.Contains(out, " 29/60 ") || !strings.Contains(out, "(29 intervals were already done and were not run again)") {
		t.Errorf("resumed backfill did not start at interval 30:\n%s", out)
	}
	table := "select string_agg(ts || '/' || id || '/' || doubled, ',' order by id) from {{ ref('daily') }}"
	want := query(t, clean, table)[0][0]
	if got := query(t, dir, table)[0][0]; got != want {
		t.Errorf("resumed table differs from a clean run")
	}
	// Idempotent: a fresh backfill of the same range (new plan: another batch) gives the same table.
	mustRun(t, "backfill", "daily", "--start", "2011-01-01", "--end", "2011-03-02", "--batch", "1w", "--project-dir", dir)
	if got := query(t, dir, table)[0][0]; got != want {
		t.Errorf("a second backfill changed the table")
	}
}

func TestBackfillNeedsTimeColumn(t *testing.T) {
	dir := newProject(t, map[string]string{"models/m.sql": "{{ config(materialized='incremental') }}select 1 as id"})
	_, errs, code := tandemCLI(t, "backfill", "m", "--start", "2011-01-01", "--end", "2011-01-02", "--project-dir", dir)
	if code != 2 || !strings.Contains(errs, "models/m.sql:1: m has no time_column: add config(time_column='the timestamp column')") {
		t.Errorf("exit %d: %s", code, errs)
	}
	_, errs, code = tandemCLI(t, "backfill", "m", "--start", "yesterday", "--end", "2011-01-02", "--project-dir", dir)
	if code != 2 || !strings.Contains(errs, `--start "yesterday": write a date`) {
		t.Errorf("bad date: exit %d: %s", code, errs)
	}
}
