package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/kvstore"
	"github.com/tandem-data/tandem/project"
)

// featureStore opens the project, its warehouse and metadata, the feature
// definitions (checked against the warehouse) and, when online is set,
// the online store. close releases them all.
func (a *app) featureStore(ctx context.Context, online bool) (*feature.Store, func(), error) {
	p, wh, ms, err := a.open()
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { wh.Close(); ms.Close() }
	reg, err := feature.Load(p)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if len(reg.Views) == 0 {
		closeAll()
		return nil, nil, tandem.Errorf(tandem.EINVALID, "the project defines no feature views: add features/*.yml (see the shop example: tandem init shop)")
	}
	s := &feature.Store{Project: p, Registry: reg, Warehouse: wh, Meta: ms, Dir: abs(p, p.Settings.Features.TrainingSets), Clock: a.now}
	if err := reg.Check(ctx, wh); err != nil {
		closeAll()
		return nil, nil, err
	}
	if online {
		st, err := kvstore.Open(abs(p, p.Settings.Features.OnlineStore))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		s.Online = st
		prev := closeAll
		closeAll = func() { st.Close(); prev() }
	}
	return s, closeAll, nil
}

func abs(p *project.Project, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Dir, path)
}

func (a *app) featuresCommand() *cobra.Command {
	c := &cobra.Command{Use: "features", Short: "The feature store: definitions, training sets, materialization, online values"}
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List entities, feature views and feature services (checked against the warehouse)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.featureStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			if a.output == "json" {
				return a.printJSON(map[string]any{"entities": s.Registry.Entities, "feature_views": s.Registry.Views, "feature_services": s.Registry.Services})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VIEW\tENTITIES\tSOURCE\tTTL\tFEATURES\tOWNER")
			for _, n := range s.Registry.ViewNames() {
				v := s.Registry.Views[n]
				src := v.Source
				if v.Stream != nil {
					src = "stream: " + v.Stream.Event
				}
				var feats []string
				for _, f := range v.Features {
					feats = append(feats, f.Name+" "+f.Type)
				}
				ttl := "-"
				if v.TTL > 0 {
					ttl = v.TTL.String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, strings.Join(v.Entities, ","), src, ttl, strings.Join(feats, ", "), v.Owner)
			}
			tw.Flush()
			for _, n := range sorted.Keys(s.Registry.Services) {
				svc := s.Registry.Services[n]
				fmt.Fprintf(a.stdout, "service %s: %d features (%s)\n", n, len(svc.Refs), strings.Join(svc.Features, ", "))
			}
			return nil
		},
	})
	c.AddCommand(a.featuresHistoricalCommand(), a.featuresRebuildCommand(), a.featuresMaterializeCommand(), a.featuresOnlineCommand())
	return c
}

func (a *app) featuresHistoricalCommand() *cobra.Command {
	var req feature.HistoricalRequest
	var features []string
	c := &cobra.Command{
		Use:   "historical",
		Short: "Build a point-in-time-correct training set: each entity row gets the features as known at its timestamp",
		Example: `  tandem features historical --entities customers.csv --features customer_rfm:recency_days,customer_rfm:frequency --out train.parquet
  tandem features historical --entities-sql "select customer_id, as_of as event_timestamp, bought_again from labels" --service recommender --out train.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.featureStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			if len(features) > 0 {
				if req.Refs, err = s.Registry.ParseRefs(features); err != nil {
					return err
				}
			}
			if req.Out == "" {
				req.Limit = 20
			} else if req.Out, err = filepath.Abs(req.Out); err != nil {
				return err
			}
			ts, rows, err := s.Historical(cmd.Context(), &req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"training_set": ts, "rows": rows})
			}
			if rows != nil {
				printRows(a.stdout, rows)
				fmt.Fprintln(a.stdout, "(the first 20 rows; write them all with --out FILE.parquet or .csv)")
			}
			fmt.Fprintf(a.stdout, "Training set %s: %d rows, %d features, in %.2fs", ts.ID, ts.Rows, len(ts.Features), ts.Seconds)
			if ts.Out != "" {
				fmt.Fprintf(a.stdout, ", written to %s", ts.Out)
			}
			fmt.Fprintf(a.stdout, ".\nWhat produced it: %s\n", filepath.Join(s.Dir, ts.ID+".json"))
			return nil
		},
	}
	c.Flags().StringVar(&req.EntitiesFile, "entities", "", "entity rows: a .csv or .parquet file with the join keys and a timestamp (and any label columns)")
	c.Flags().StringVar(&req.EntitiesSQL, "entities-sql", "", "entity rows: a query")
	c.Flags().StringSliceVar(&features, "features", nil, "features as view:feature (or view for all of its features), comma-separated")
	c.Flags().StringVar(&req.Service, "service", "", "a feature service instead of --features")
	c.Flags().StringVar(&req.TimestampColumn, "timestamp-column", "event_timestamp", "the entity rows' timestamp column")
	c.Flags().BoolVar(&req.FullFeatureNames, "full-feature-names", false, "name columns view__feature")
	c.Flags().BoolVar(&req.FilterCreated, "filter-created", false, "leave out feature rows created after the entity row's timestamp")
	c.Flags().StringVar(&req.Out, "out", "", "write the training set to a .parquet or .csv file")
	return c
}

func (a *app) featuresRebuildCommand() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "rebuild TRAINING_SET_ID|latest --out FILE",
		Short: "Build a recorded training set again, exactly: its definitions, its entity rows and the source rows it read (from kept table versions)",
		Example: `  tandem features rebuild ts_3f9a1c2b7d4e --out train.parquet
  tandem features rebuild latest --out train.parquet   # the training set built last`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return tandem.Errorf(tandem.EINVALID, "name the file to write: --out FILE.parquet or .csv")
			}
			s, done, err := a.featureStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			if out, err = filepath.Abs(out); err != nil {
				return err
			}
			res, err := s.Rebuild(cmd.Context(), args[0], out)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(res)
			}
			for _, v := range sorted.Keys(res.Read) {
				fmt.Fprintf(a.stdout, "view %s read from %s\n", v, res.Read[v])
			}
			fmt.Fprintf(a.stdout, "Rebuilt %s: %d rows in %.2fs, written to %s.\n", res.Original.ID, res.Rebuilt.Rows, res.Rebuilt.Seconds, out)
			switch {
			case res.Identical:
				fmt.Fprintf(a.stdout, "Identical to the recorded training set (rows and content hash %s).\n", res.Rebuilt.OutFingerprint)
			case res.Original.OutFingerprint == "":
				fmt.Fprintln(a.stdout, "The original was returned, not written to a file, so there is no fingerprint to compare with.")
			default:
				return tandem.Errorf(tandem.EINTERNAL, "the rebuild differs from the recorded training set (%s, recorded %s) although it read the same rows; please report this", res.Rebuilt.OutFingerprint, res.Original.OutFingerprint)
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the training set to a .parquet or .csv file")
	return c
}

func (a *app) featuresMaterializeCommand() *cobra.Command {
	var views []string
	var start, end string
	var incremental bool
	c := &cobra.Command{
		Use:   "materialize",
		Short: "Copy the latest feature values per entity into the online store",
		Example: `  tandem features materialize --incremental
  tandem features materialize --start 2011-01-01 --end 2011-12-10 --views customer_rfm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.featureStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer done()
			var from, to time.Time // a zero end is the platform clock's now
			if start != "" {
				if from, err = parseTime(start); err != nil {
					return tandem.Errorf(tandem.EINVALID, "--start: %v", err)
				}
			}
			if end != "" {
				if to, err = parseTime(end); err != nil {
					return tandem.Errorf(tandem.EINVALID, "--end: %v", err)
				}
			}
			if !incremental && start == "" && end == "" {
				return tandem.Errorf(tandem.EINVALID, "say what to materialize: --incremental (from where the last run ended), or --start and --end")
			}
			res, err := s.Materialize(cmd.Context(), views, from, to, incremental, func(view string, rows int64) {
				fmt.Fprintf(a.stderr, "\r%s: %d rows", view, rows)
			})
			fmt.Fprintln(a.stderr)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(res)
			}
			for _, r := range res {
				from := "the beginning"
				if !r.Start.IsZero() {
					from = r.Start.Format(time.DateTime)
				}
				fmt.Fprintf(a.stdout, "%s: %d entities from %s to %s, in %.2fs\n", r.View, r.Rows, from, r.End.Format(time.DateTime), r.Seconds)
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&views, "views", nil, "views to materialize (all online views by default)")
	c.Flags().StringVar(&start, "start", "", "event times from (inclusive), e.g. 2011-01-01 or 2011-01-01T06:00:00Z")
	c.Flags().StringVar(&end, "end", "", "event times to (exclusive; now by default)")
	c.Flags().BoolVar(&incremental, "incremental", false, "from where the last materialization of each view ended")
	return c
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time (2011-01-01, 2011-01-01T06:00:00Z)", s)
}

func (a *app) featuresOnlineCommand() *cobra.Command {
	var features []string
	var service string
	var entities []string
	c := &cobra.Command{
		Use:   "online",
		Short: "Read the latest values of features for entities from the online store",
		Example: `  tandem features online --features customer_rfm --entity customer_id=12347
(while tandem serve runs, ask it instead: POST /api/v1/features/online)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.featureStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer done()
			req := &feature.OnlineRequest{Features: features, Service: service, Entities: map[string][]any{}}
			for _, e := range entities {
				k, v, ok := strings.Cut(e, "=")
				if !ok {
					return tandem.Errorf(tandem.EINVALID, "--entity %q: write key=value, e.g. customer_id=12347", e)
				}
				var x any = v
				var n json.Number
				if json.Unmarshal([]byte(v), &n) == nil {
					x = n
				}
				req.Entities[k] = append(req.Entities[k], x)
			}
			refs, vals, n, err := s.Lookup(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(onlineJSON(req, refs, vals, n))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENTITY\tFEATURE\tVALUE\tSTATUS\tEVENT TIME")
			for e := 0; e < n; e++ {
				var ent []string
				for k, vs := range req.Entities {
					ent = append(ent, fmt.Sprintf("%s=%v", k, vs[e]))
				}
				for i, r := range refs {
					v := vals[i][e]
					ts := ""
					if !v.EventTime.IsZero() {
						ts = v.EventTime.Format(time.DateTime)
					}
					val := "-"
					if v.Value != nil {
						b, _ := json.Marshal(v.Value)
						val = string(b)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.Join(ent, ","), r, val, v.Status, ts)
				}
			}
			return tw.Flush()
		},
	}
	c.Flags().StringSliceVar(&features, "features", nil, "features as view:feature (or view), comma-separated")
	c.Flags().StringVar(&service, "service", "", "a feature service instead of --features")
	c.Flags().StringArrayVar(&entities, "entity", nil, "an entity's join key, key=value (repeat for more entities or keys)")
	return c
}

// onlineJSON is Tandem's own response shape: one object per entity.
func onlineJSON(req *feature.OnlineRequest, refs []feature.Ref, vals [][]feature.Value, n int) map[string]any {
	results := make([]map[string]any, n)
	for e := 0; e < n; e++ {
		ent := map[string]any{}
		for k, vs := range req.Entities {
			ent[k] = vs[e]
		}
		feats := map[string]feature.Value{}
		for i, r := range refs {
			feats[r.String()] = vals[i][e]
		}
		results[e] = map[string]any{"entity": ent, "features": feats}
	}
	return map[string]any{"results": results}
}
