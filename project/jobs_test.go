package project

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestJobs(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{
		"tandem.yaml": `owner: team
schedules:
  - name: hourly
    select: ["tag:marts"]
    cron: "@hourly"
    timezone: Europe/London
  - name: nightly
    command: run
    cron: "0 2 * * *"
    catchup: all
    overlap: queue
    owner: ana
`,
		"models/a.sql": "{{ config(tags=['marts'], schedule={'cron': '*/15 * * * *', 'timezone': 'UTC', 'on_new_data': true}) }}select 1 as id",
		"models/b.sql": "{{ config(schedule='@daily') }}select 2 as id",
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := p.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, fmt.Sprintf("%s %s %v %q %s %s %s %v %s", j.Name, j.Command, j.Select, j.Cron, j.Timezone, j.Catchup, j.Overlap, j.OnNewData, j.Owner))
	}
	want := []string{
		`hourly build [tag:marts] "@hourly" Europe/London latest skip false team`,
		`model:a build [a] "*/15 * * * *" UTC latest skip true team`,
		`model:b build [b] "@daily"  latest skip false team`,
		`nightly run [] "0 2 * * *"  all queue false ana`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for yaml, msg := range map[string]string{
		"schedules:\n  - name: x\n    cron: '@hourly'\n    catchup: sometimes\n": `tandem.yaml: job x: catchup "sometimes": use latest, all or none`,
		"schedules:\n  - name: x\n    cron: '@hourly'\n    select: [nope]\n":     `tandem.yaml: job x: --select "nope" matches no node`,
		"schedules:\n  - name: x\n": `tandem.yaml: job x: cron is missing`,
		"schedules:\n  - name: x\n    cron: '@daily'\n  - name: x\n    cron: '@daily'\n": `tandem.yaml: job "x" is declared twice`,
		"schedules:\n  - name: x\n    cron: '@daily'\n    timzone: UTC\n":                `tandem.yaml:4: unknown key "schedules[0].timzone"; did you mean "timezone"?`,
	} {
		p, err := Load(writeProject(t, map[string]string{"tandem.yaml": yaml, "models/a.sql": "select 1"}), Options{})
		if err == nil {
			_, err = p.Jobs()
		}
		if err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", yaml, err, msg)
		}
	}
}

func TestCollectSettings(t *testing.T) {
	p, err := Load(writeProject(t, map[string]string{"models/a.sql": "select 1 as id"}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Settings.Collect
	if c.Retention.MaxAge != 8*24*time.Hour || c.Retention.MaxBytes != 0 || c.DedupWindow != 7*24*time.Hour || c.LoadEvery != 500*time.Millisecond {
		t.Errorf("defaults: %+v", c)
	}
	p, err = Load(writeProject(t, map[string]string{"models/a.sql": "select 1 as id",
		"tandem.yaml": "collect:\n  retention:\n    max_age: 72h\n    max_bytes: 10737418240\n  load_every: 1s\n"}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Settings.Collect; c.Retention.MaxAge != 72*time.Hour || c.Retention.MaxBytes != 10<<30 || c.LoadEvery != time.Second {
		t.Errorf("from tandem.yaml: %+v", c)
	}
}
