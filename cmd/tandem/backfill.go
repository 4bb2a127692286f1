package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/pipeline"
)

// parseWhen reads a date or a timestamp, in UTC.
func parseWhen(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.DateTime, "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, tandem.Errorf(tandem.EINVALID, "--%s %q: write a date (2011-01-01) or a timestamp (2011-01-01 06:00:00)", flag, s)
}

func (a *app) backfillCommand() *cobra.Command {
	var start, end, batch string
	c := &cobra.Command{
		Use:   "backfill MODEL --start DATE --end DATE",
		Short: "Rebuild an incremental model interval by interval; run it again to resume after a failure",
		Long: `Rebuild an incremental model with a time_column over [start, end), one interval at
a time. Each interval replaces exactly its own rows in one transaction, so a
backfill run twice gives the same table. The SQL sees the interval as
var('start') and var('end'). Finished intervals are recorded: after a failure,
run the same command again and it resumes where it stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := parseWhen("start", start)
			if err != nil {
				return err
			}
			to, err := parseWhen("end", end)
			if err != nil {
				return err
			}
			b, err := pipeline.ParseBatch(batch)
			if err != nil {
				return err
			}
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			n, ok := p.ByName(args[0])
			if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "no model named %q", args[0])
			}
			r := a.runner(p, wh, ms)
			plan, err := r.PlanBackfill(n, from, to, b)
			if err != nil {
				return err
			}
			if a.output != "json" {
				fmt.Fprintf(a.stdout, "Backfill %s of %s: %d intervals of %s from %s to %s\n", plan.ID, n.Name, len(plan.Intervals), b.Text, start, end)
			}
			skipped := 0
			run, err := r.RunBackfill(cmd.Context(), &tandem.Run{Command: "backfill", Args: fmt.Sprintf("%s --start %s --end %s --batch %s", n.Name, start, end, batch), StartedBy: startedBy(), Trigger: "cli"}, plan,
				func(iv *tandem.Interval, done, total int, skip bool) {
					if skip {
						skipped++
						return
					}
					if a.output != "json" {
						fmt.Fprintf(a.stdout, "  %d/%d %-5s %s to %s  %s rows%s\n", done, total, map[tandem.Status]string{tandem.StatusSuccess: "OK", tandem.StatusError: "ERROR"}[iv.Status],
							iv.Start.Format(time.DateTime), iv.End.Format(time.DateTime), conv.Thousands(iv.Rows), suffix(iv.Message))
					}
				})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(run)
			}
			if skipped > 0 {
				fmt.Fprintf(a.stdout, "(%d intervals were already done and were not run again)\n", skipped)
			}
			if run.Status != tandem.StatusSuccess {
				fmt.Fprintf(a.stdout, "\nBackfill stopped: %s\nFix the cause, then run the same command again: finished intervals are kept.\n", run.Nodes[0].Message)
				return &exitError{code: 1}
			}
			fmt.Fprintf(a.stdout, "Backfill done: %s rows in %.2fs\n", conv.Thousands(run.Nodes[0].Rows), run.EndedAt.Sub(run.StartedAt).Seconds())
			return nil
		},
	}
	c.Flags().StringVar(&start, "start", "", "first instant, included (2011-01-01)")
	c.Flags().StringVar(&end, "end", "", "last instant, excluded (2011-03-01)")
	c.Flags().StringVar(&batch, "batch", "1d", "interval length: 30m, 6h, 1d, 1w or 1mo")
	c.MarkFlagRequired("start")
	c.MarkFlagRequired("end")
	return c
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return "  " + firstLine(msg)
}
