package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem/schedule"
)

func (a *app) freshnessCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "freshness",
		Short: "Check sources and models against their freshness SLAs (exit 1 when one is in error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			results := schedule.CheckFreshness(cmd.Context(), p, wh, ms.LastSuccess, a.now())
			if a.output == "json" {
				if err := a.printJSON(results); err != nil {
					return err
				}
			} else {
				if len(results) == 0 {
					fmt.Fprintln(a.stdout, "No source or model has a freshness SLA: add freshness: {warn_after: {count: 12, period: hour}} to one.")
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STATUS\tNODE\tLAST DATA\tAGE\tWARN AFTER\tERROR AFTER\tOWNER\tMESSAGE")
				for _, r := range results {
					last, age := "never", ""
					if !r.LoadedAt.IsZero() {
						last, age = r.LoadedAt.Local().Format(time.DateTime), r.Age.Round(time.Second).String()
					}
					fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, r.Kind, r.Name, last, age, durOrDash(r.WarnAfter), durOrDash(r.ErrorAfter), r.Owner, r.Message)
				}
				tw.Flush()
			}
			for _, r := range results {
				if r.Status == schedule.FreshError {
					return &exitError{code: 1}
				}
			}
			return nil
		},
	}
}

func durOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}
