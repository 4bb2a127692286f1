package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/eventlog"
	"github.com/tandem-data/tandem/project"
)

func logDir(p *project.Project) string {
	if filepath.IsAbs(p.Settings.Collect.LogDir) {
		return p.Settings.Collect.LogDir
	}
	return filepath.Join(p.Dir, p.Settings.Collect.LogDir)
}

func (a *app) eventsCommand() *cobra.Command {
	events := &cobra.Command{Use: "events", Short: "The collected clickstream: tail the log, list and replay quarantined events"}
	var quarantined bool
	replay := &cobra.Command{
		Use:   "replay --quarantined",
		Short: "Check quarantined events against the current tracking plan and load those that now pass",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !quarantined {
				return tandem.Errorf(tandem.EINVALID, "say what to replay: --quarantined")
			}
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			plan, err := collect.LoadPlan(p.Dir)
			if err != nil {
				return err
			}
			log, err := eventlog.Open(logDir(p), eventlog.Options{})
			if err != nil {
				return err
			}
			defer log.Close()
			l := collect.NewLoader(log, wh, func() *collect.Plan { return plan })
			if err := l.Prepare(cmd.Context()); err != nil {
				return err
			}
			res, err := l.Replay(cmd.Context())
			if err != nil {
				return err
			}
			// Nothing else loads while tandem serve is stopped: load now.
			next, err := l.Next(cmd.Context())
			for err == nil && next < log.End() {
				next, err = l.LoadOnce(cmd.Context(), next)
			}
			if err != nil {
				return err
			}
			ms.AddAudit(cmd.Context(), &tandem.AuditEntry{At: time.Now(), Actor: "cli:" + startedBy(), Action: "events.replay", Detail: fmt.Sprintf("%d replayed, %d still quarantined", res.Replayed, res.Quarantined)})
			if a.output == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "Replayed %d quarantined events into the warehouse; %d still break the tracking plan (see `tandem events quarantine`).\n", res.Replayed, res.Quarantined)
			return nil
		},
	}
	replay.Flags().BoolVar(&quarantined, "quarantined", false, "replay the quarantined events")
	var limit int
	list := &cobra.Command{
		Use:   "quarantine",
		Short: "List quarantined events: why, which field, which source",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sql := `select received_at, source, event, violation, path, message, replayed from events.quarantine order by "offset" desc`
			a.selects = nil
			return a.showSQL(cmd.Context(), sql, limit)
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "rows to show")
	var from int64
	var follow bool
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the event log as JSON lines from an offset (works beside a running tandem serve)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.loadProject()
			if err != nil {
				return err
			}
			next := from
			for {
				log, err := eventlog.Open(logDir(p), eventlog.Options{ReadOnly: true})
				if err != nil {
					return err
				}
				if next < 0 {
					next = max(log.End()+next, 0)
				}
				recs, err := log.Read(cmd.Context(), next, 10000)
				log.Close()
				if err != nil {
					return err
				}
				for _, r := range recs {
					var env json.RawMessage = r.Data
					fmt.Fprintf(a.stdout, "{\"offset\":%d,\"record\":%s}\n", r.Offset, env)
					next = r.Offset + 1
				}
				if !follow {
					return nil
				}
				if len(recs) == 0 {
					select {
					case <-cmd.Context().Done():
						return nil
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
		},
	}
	tail.Flags().Int64Var(&from, "from", -10, "first offset; negative counts back from the end")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records")
	events.AddCommand(replay, list, tail, a.eventsGenerateCommand())
	return events
}

// showSQL prints a query's rows like tandem show.
func (a *app) showSQL(ctx context.Context, sql string, limit int) error {
	old := a.selects
	defer func() { a.selects = old }()
	c := a.showCommand()
	c.SetContext(ctx)
	c.Flags().Set("inline", sql)
	c.Flags().Set("limit", fmt.Sprint(limit))
	return c.RunE(c, nil)
}
