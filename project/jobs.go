package project

import (
	"fmt"
	"sort"

	"github.com/tandem-data/tandem"
)

// Jobs returns the project's scheduled jobs: schedules: in tandem.yaml, and
// one job per model with config(schedule=...) (named model:NAME, building
// the model and its tests). Cron expressions are checked by the scheduler.
func (p *Project) Jobs() ([]*tandem.Job, error) {
	var jobs []*tandem.Job
	seen := map[string]string{}
	add := func(j *tandem.Job) error {
		if j.Name == "" {
			return tandem.FileErrorf(tandem.EINVALID, j.Origin, 0, "a schedule needs a name")
		}
		if prev, dup := seen[j.Name]; dup {
			return tandem.FileErrorf(tandem.EINVALID, j.Origin, 0, "job %q is declared twice (also in %s)", j.Name, prev)
		}
		seen[j.Name] = j.Origin
		if j.Command == "" {
			j.Command = "build"
		}
		if j.Catchup == "" {
			j.Catchup = "latest"
		}
		if j.Overlap == "" {
			j.Overlap = "skip"
		}
		for field, ok := range map[string]bool{
			fmt.Sprintf("command %q: use build, run, seed or test", j.Command): j.Command == "build" || j.Command == "run" || j.Command == "seed" || j.Command == "test",
			fmt.Sprintf("catchup %q: use latest, all or none", j.Catchup):      j.Catchup == "latest" || j.Catchup == "all" || j.Catchup == "none",
			fmt.Sprintf("overlap %q: use skip or queue", j.Overlap):            j.Overlap == "skip" || j.Overlap == "queue",
			"cron is missing: write one, like \"0 * * * *\" or @hourly":        j.Cron != "",
		} {
			if !ok {
				return tandem.FileErrorf(tandem.EINVALID, j.Origin, 0, "job %s: %s", j.Name, field)
			}
		}
		if _, err := p.Select(j.Select, j.Exclude, false); err != nil {
			return tandem.FileErrorf(tandem.EINVALID, j.Origin, 0, "job %s: %v", j.Name, err)
		}
		if j.Owner == "" {
			j.Owner = p.Settings.Owner
		}
		jobs = append(jobs, j)
		return nil
	}
	for _, s := range p.Settings.Schedules {
		if err := add(&tandem.Job{Name: s.Name, Command: s.Command, Select: s.Select, Exclude: s.Exclude, Cron: s.Cron, Timezone: s.Timezone,
			Catchup: s.Catchup, Overlap: s.Overlap, OnNewData: s.OnNewData, FullRefresh: s.FullRefresh, Owner: s.Owner, Origin: "tandem.yaml"}); err != nil {
			return nil, err
		}
	}
	ids := p.sortedIDs(tandem.KindModel)
	for _, id := range ids {
		n := p.Nodes[id]
		spec, ok := n.Config["schedule"]
		if !ok || spec == nil {
			continue
		}
		j := &tandem.Job{Name: "model:" + n.Name, Select: []string{n.Name}, Owner: n.Owner, Origin: n.Path}
		switch v := spec.(type) {
		case string:
			j.Cron = v
		case map[string]any:
			j.Cron, j.Timezone, j.Catchup, j.Overlap = str(v["cron"]), str(v["timezone"]), str(v["catchup"]), str(v["overlap"])
			j.OnNewData, _ = v["on_new_data"].(bool)
		default:
			return nil, tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "schedule must be a cron string or {cron: ..., timezone: ...}")
		}
		if err := add(j); err != nil {
			return nil, err
		}
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].Name < jobs[k].Name })
	return jobs, nil
}
