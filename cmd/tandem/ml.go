package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/ml"
)

// mlService opens the project's models and registry, and the warehouse
// when the command reads data (train, and a gate that must evaluate
// production again). Without it, promote, rollback and show work while
// tandem serve holds the warehouse.
func (a *app) mlService(warehouse bool) (*ml.Service, func(), error) {
	p, err := a.loadProject()
	if err != nil {
		return nil, nil, err
	}
	specs, err := ml.Load(p)
	if err != nil {
		return nil, nil, err
	}
	s := &ml.Service{Specs: specs, Registry: &ml.Registry{Dir: abs(p, p.Settings.ML.Registry)}}
	closeAll := func() {}
	if warehouse {
		_, wh, ms, err := a.open()
		if err != nil {
			return nil, nil, err
		}
		s.Warehouse, s.Meta = wh, ms
		closeAll = func() { wh.Close(); ms.Close() }
		// Predictors' training sets come from the feature store.
		reg, err := feature.Load(p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if len(reg.Views) > 0 {
			s.Features = &feature.Store{Project: p, Registry: reg, Warehouse: wh, Meta: ms, Dir: abs(p, p.Settings.Features.TrainingSets), Clock: a.now}
		}
	}
	if a.output != "json" {
		s.Progress = func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }
	}
	return s, closeAll, nil
}

// nameVersion splits NAME[@VERSION]; 0 means none given.
func nameVersion(arg string) (string, int, error) {
	name, ver, ok := strings.Cut(arg, "@")
	if !ok {
		return name, 0, nil
	}
	ver = strings.TrimPrefix(ver, "v")
	n, err := strconv.Atoi(ver)
	if err != nil || n <= 0 {
		return "", 0, tandem.Errorf(tandem.EINVALID, "%q: write NAME@VERSION with a version number, e.g. product_recs@3", arg)
	}
	return name, n, nil
}

func (a *app) mlCommand() *cobra.Command {
	c := &cobra.Command{Use: "ml", Short: "Models: train, evaluate, register, promote through the gate, roll back, score in batch"}
	var promote bool
	train := &cobra.Command{
		Use:   "train NAME",
		Short: "Train a model of ml/*.yml: evaluate it on its split next to most-popular, train on all data, register a version (the candidate)",
		Example: `  tandem ml train product_recs
  tandem ml train product_recs --promote      # and promote it if the gate passes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.mlService(true)
			if err != nil {
				return err
			}
			defer done()
			v, err := s.Train(cmd.Context(), args[0], startedBy())
			if err != nil {
				return err
			}
			var verdict *ml.Verdict
			var perr error
			if promote {
				verdict, perr = s.Promote(cmd.Context(), v.Model, v.Version, false, "", startedBy())
			}
			if a.output == "json" {
				if perr != nil {
					return perr
				}
				return a.printJSON(map[string]any{"version": v, "verdict": verdict})
			}
			a.printVersion(v)
			if promote {
				if perr != nil {
					return perr
				}
				fmt.Fprintf(a.stdout, "Promoted %s v%d to production: %s.\n", v.Model, v.Version, verdict.Why)
			} else {
				fmt.Fprintf(a.stdout, "Registered %s v%d as the candidate. Promote it through the gate: tandem ml promote %s@%d\n", v.Model, v.Version, v.Model, v.Version)
			}
			return nil
		},
	}
	train.Flags().BoolVar(&promote, "promote", false, "promote the new version if the gate passes")

	eval := &cobra.Command{
		Use:   "eval NAME[@VERSION]",
		Short: "Show a version's evaluation next to the most-popular baseline (the production version by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			name, ver, err := nameVersion(args[0])
			if err != nil {
				return err
			}
			if ver == 0 {
				if al, _ := s.Registry.Aliases(name); al.Production == 0 && al.Candidate != 0 {
					ver = al.Candidate
				}
			}
			v, err := s.Registry.Version(name, ver)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(v.Eval)
			}
			a.printVersion(v)
			return nil
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the models of ml/*.yml with their versions, production and candidate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			type row struct {
				Name       string `json:"name"`
				Algorithm  string `json:"algorithm"`
				Versions   int    `json:"versions"`
				Production int    `json:"production,omitempty"`
				Candidate  int    `json:"candidate,omitempty"`
				Metric     string `json:"gate_metric"`
				Value      any    `json:"production_value,omitempty"`
				Owner      string `json:"owner,omitempty"`
			}
			var rows []row
			for _, n := range sorted.Keys(s.Specs) {
				sp := s.Specs[n]
				vs, _ := s.Registry.Versions(n)
				al, _ := s.Registry.Aliases(n)
				r := row{Name: n, Algorithm: sp.Algorithm, Versions: len(vs), Production: al.Production, Candidate: al.Candidate, Metric: sp.Gate.Metric, Owner: sp.Owner}
				if al.Production != 0 {
					if v, err := s.Registry.Version(n, al.Production); err == nil {
						r.Value = v.Eval.Metrics[sp.Gate.Metric]
					}
				}
				rows = append(rows, r)
			}
			if a.output == "json" {
				return a.printJSON(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tALGORITHM\tVERSIONS\tPRODUCTION\tCANDIDATE\tGATE METRIC\tOWNER")
			for _, r := range rows {
				prod, cand := "-", "-"
				if r.Production != 0 {
					prod = fmt.Sprintf("v%d (%.4f)", r.Production, r.Value)
				}
				if r.Candidate != 0 {
					cand = fmt.Sprintf("v%d", r.Candidate)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Algorithm, r.Versions, prod, cand, r.Metric, r.Owner)
			}
			return tw.Flush()
		},
	}

	show := &cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Show a model's versions, aliases and audit log, or one version in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			name, ver, err := nameVersion(args[0])
			if err != nil {
				return err
			}
			if _, err := s.Spec(name); err != nil {
				return err
			}
			if ver != 0 {
				v, err := s.Registry.Version(name, ver)
				if err != nil {
					return err
				}
				if a.output == "json" {
					return a.printJSON(v)
				}
				a.printVersion(v)
				fmt.Fprintf(a.stdout, "data: %s (%d rows, fingerprint %s", v.Data.SQL, v.Data.Rows, v.Data.Fingerprint)
				if v.Data.TableVersion != 0 {
					fmt.Fprintf(a.stdout, ", table version %d", v.Data.TableVersion)
				}
				fmt.Fprintf(a.stdout, ")\nspec sha256 %s; artifact %d bytes\n", v.SpecHash, v.ArtifactBytes)
				return nil
			}
			vs, err := s.Registry.Versions(name)
			if err != nil {
				return err
			}
			al, _ := s.Registry.Aliases(name)
			audit, _ := s.Registry.Audit(name)
			if a.output == "json" {
				return a.printJSON(map[string]any{"versions": vs, "aliases": al, "audit": audit})
			}
			metric := s.Specs[name].Gate.Metric
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "VERSION\tCREATED\tALGORITHM\t%s\tBASELINE\tROWS\tALIAS\n", strings.ToUpper(metric))
			for _, v := range vs {
				alias := ""
				switch v.Version {
				case al.Production:
					alias = "production"
				case al.Candidate:
					alias = "candidate"
				}
				fmt.Fprintf(tw, "v%d\t%s\t%s\t%.4f\t%.4f\t%d\t%s\n", v.Version, v.CreatedAt.Format("2006-01-02 15:04"), v.Algorithm, v.Eval.Metrics[metric], v.Eval.Baseline[metric], v.Data.Rows, alias)
			}
			tw.Flush()
			for _, e := range audit {
				fmt.Fprintf(a.stdout, "%s %s %s v%d", e.At.Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Version)
				if e.From != 0 {
					fmt.Fprintf(a.stdout, " (was v%d)", e.From)
				}
				if e.Reason != "" {
					fmt.Fprintf(a.stdout, ": %s", e.Reason)
				}
				fmt.Fprintln(a.stdout)
			}
			return nil
		},
	}

	var force bool
	var reason string
	prom := &cobra.Command{
		Use:   "promote NAME@VERSION",
		Short: "Make a version production if the gate passes (same or better than production); --force --reason overrides, audited",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			name, ver, err := nameVersion(args[0])
			if err != nil {
				return err
			}
			if ver == 0 {
				return tandem.Errorf(tandem.EINVALID, "name the version: tandem ml promote %s@VERSION (see tandem ml show %s)", name, name)
			}
			if _, err := s.Spec(name); err != nil {
				return err
			}
			verdict, err := s.Promote(cmd.Context(), name, ver, force, reason, startedBy())
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(verdict)
			}
			how := "passed the gate"
			if !verdict.Pass {
				how = "FORCED past the gate"
			}
			fmt.Fprintf(a.stdout, "%s v%d is in production (%s: %s).\n", name, ver, how, verdict.Why)
			return nil
		},
	}
	prom.Flags().BoolVar(&force, "force", false, "promote even if the gate refuses (needs --reason; audited)")
	prom.Flags().StringVar(&reason, "reason", "", "why, for the audit log")

	var rbReason string
	rollback := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Put the previous production version back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			if _, err := s.Spec(args[0]); err != nil {
				return err
			}
			from, to, err := s.Registry.Rollback(args[0], startedBy(), rbReason)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: production is v%d again (was v%d).\n", args[0], to, from)
			return nil
		},
	}
	rollback.Flags().StringVar(&rbReason, "reason", "", "why, for the audit log")

	c.AddCommand(train, eval, list, show, prom, rollback, a.mlRecommendCommand())
	return c
}

// printVersion prints a version's evaluation as a table of metrics next
// to the baseline.
func (a *app) printVersion(v *ml.Version) {
	e := v.Eval
	baseline := "most popular"
	if v.Spec.Kind == "predictor" {
		baseline = "prior rate"
		fmt.Fprintf(a.stdout, "%s v%d (%s), %s split: trained on %d rows in %.2fs, tested on %d rows (%.1f%% positive)\n",
			v.Model, v.Version, v.Algorithm, e.Split, e.TrainRows, e.TrainSeconds, e.TestRows, 100*e.PositiveRate)
	} else {
		fmt.Fprintf(a.stdout, "%s v%d (%s), %s split: trained on %d rows in %.2fs; %d test users (%d more without training rows, served by the fallback)\n",
			v.Model, v.Version, v.Algorithm, e.Split, e.TrainRows, e.TrainSeconds, e.Users, e.UnknownUsers)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tratio\t\n", v.Algorithm, baseline)
	for _, m := range sorted.Keys(e.Metrics) {
		if m == "users" {
			continue
		}
		ratio := "-"
		if b := e.Baseline[m]; b > 0 {
			ratio = fmt.Sprintf("%.2fx", e.Metrics[m]/b)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%s\t\n", m, e.Metrics[m], e.Baseline[m], ratio)
	}
	tw.Flush()
	if len(e.Calibration) > 0 {
		fmt.Fprintf(a.stdout, "calibration (predicted -> observed, rows):")
		for _, b := range e.Calibration {
			fmt.Fprintf(a.stdout, " %.2f->%.2f (%d)", b.Predicted, b.Observed, b.Rows)
		}
		fmt.Fprintln(a.stdout)
	}
}

func (a *app) mlRecommendCommand() *cobra.Command {
	var model, users, out string
	var k int
	var seen bool
	c := &cobra.Command{
		Use:     "recommend --model NAME[@VERSION] --users FILE --out FILE",
		Short:   "Score users in batch: the top k items each (the production version by default; unknown users get the fallback, as from the API)",
		Example: `  tandem ml recommend --model product_recs --users users.txt --k 10 --out recs.csv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := a.mlService(false)
			if err != nil {
				return err
			}
			defer done()
			name, ver, err := nameVersion(model)
			if err != nil {
				return err
			}
			b, err := s.Batch(name, ver)
			if err != nil {
				return err
			}
			ids, err := readUsers(users)
			if err != nil {
				return err
			}
			var w io.Writer = a.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			cw := csv.NewWriter(bw)
			cw.Write([]string{"user", "rank", "item", "score", "model_version", "fallback"})
			fallbacks := 0
			for _, u := range ids {
				ans := b.Recommend(u, k, !seen)
				if ans.Fallback != "" {
					fallbacks++
				}
				for r, x := range ans.Items {
					cw.Write([]string{u, strconv.Itoa(r + 1), x.Item, strconv.FormatFloat(float64(x.Score), 'g', 6, 32), fmt.Sprintf("%s@%d", ans.Model, ans.Version), ans.Fallback})
				}
			}
			cw.Flush()
			if err := bw.Flush(); err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(a.stderr, "%d users scored with %s v%d (%d unknown, answered by its fallback as the API does), written to %s\n", len(ids), name, b.Version(), fallbacks, out)
			}
			return cw.Error()
		},
	}
	c.Flags().StringVar(&model, "model", "", "the model, NAME or NAME@VERSION")
	c.Flags().StringVar(&users, "users", "", "a file with one user id per line (a header line 'user' is skipped)")
	c.Flags().StringVar(&out, "out", "", "write CSV here (stdout without)")
	c.Flags().IntVar(&k, "k", 10, "items per user")
	c.Flags().BoolVar(&seen, "include-seen", false, "keep items the user already interacted with")
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("users")
	return c
}

func readUsers(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "--users: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if first, _, _ := strings.Cut(line, ","); first != line {
			line = strings.TrimSpace(first)
		}
		if line == "" || (n == 1 && (line == "user" || line == "user_id" || line == "customer_id")) {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}
