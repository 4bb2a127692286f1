package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/project"
)

var relPath = filepath.Rel

func (a *app) compileCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "compile",
		Short: "Render models and tests to SQL (printed with --select, else written to target/compiled)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.loadProject()
			if err != nil {
				return err
			}
			ids, err := p.Select(a.selects, a.excludes, false)
			if err != nil {
				return err
			}
			ids = filterKinds(p, ids, []tandem.NodeKind{tandem.KindModel, tandem.KindTest})
			out := map[string]string{}
			for _, id := range ids {
				sql, err := p.Compile(id, project.CompileContext{})
				if err != nil {
					return err
				}
				out[id] = sql
			}
			if a.output == "json" {
				return a.printJSON(out)
			}
			if len(a.selects) > 0 {
				for _, id := range ids {
					fmt.Fprintf(a.stdout, "-- %s (%s)\n%s\n\n", p.Nodes[id].Name, p.Nodes[id].Path, strings.TrimSpace(out[id]))
				}
				return nil
			}
			dir := filepath.Join(p.Dir, "target", "compiled")
			for _, id := range ids {
				n := p.Nodes[id]
				path := filepath.Join(dir, n.Path)
				if n.Kind == tandem.KindTest && n.Test.Name != "" {
					path = filepath.Join(dir, "tests", n.Name+".sql")
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(path, []byte(out[id]), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "Compiled %d models and tests into %s\n", len(ids), rel(p.Dir, dir))
			return nil
		},
	}
}

func (a *app) lsCommand() *cobra.Command {
	var kind string
	c := &cobra.Command{
		Use:   "ls",
		Short: "List the nodes of the project",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.loadProject()
			if err != nil {
				return err
			}
			ids, err := p.Select(a.selects, a.excludes, false)
			if err != nil {
				return err
			}
			var nodes []*tandem.Node
			for _, id := range ids {
				if n := p.Nodes[id]; kind == "" || string(n.Kind) == kind {
					nodes = append(nodes, n)
				}
			}
			if a.output == "json" {
				return a.printJSON(nodes)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tMATERIALIZED\tOWNER\tPATH")
			for _, n := range nodes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Kind, n.Name, n.Materialized, n.Owner, n.Path)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&kind, "resource-type", "", "only model, seed, source or test")
	return c
}

func (a *app) showCommand() *cobra.Command {
	var inline string
	var limit int
	c := &cobra.Command{
		Use:   "show",
		Short: "Preview rows of a model (--select) or of a query (--inline \"SQL\")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			ms.Close()
			var sql string
			switch {
			case inline != "":
				if sql, err = p.CompileInline(inline); err != nil {
					return err
				}
			case len(a.selects) == 1:
				n, ok := p.ByName(a.selects[0])
				if !ok {
					msg := fmt.Sprintf("no model or seed named %q", a.selects[0])
					if near := p.NearestName(a.selects[0]); near != "" {
						msg += fmt.Sprintf("; did you mean %q?", near)
					}
					return tandem.Errorf(tandem.ENOTFOUND, "%s", msg)
				}
				sql = "select * from " + p.Relation(n).String()
			default:
				return tandem.Errorf(tandem.EINVALID, "say what to show: --select MODEL or --inline \"select ...\"")
			}
			rows, err := wh.Query(cmd.Context(), sql, limit)
			if err != nil {
				return tandem.Errorf(tandem.EINVALID, "%v", err)
			}
			if a.output == "json" {
				return a.printJSON(rows)
			}
			if err := printRows(a.stdout, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "(%d rows shown, limit %d)\n", len(rows.Rows), limit)
			return nil
		},
	}
	c.Flags().StringVar(&inline, "inline", "", "SQL to run; may use ref() and source()")
	c.Flags().IntVar(&limit, "limit", 10, "rows to show")
	return c
}

// catalogNode is one entry of target/catalog.json.
type catalogNode struct {
	*tandem.Node
	Relation   string          `json:"relation,omitempty"`
	Columns    []tandem.Column `json:"columns"`
	Tests      []string        `json:"tests"`
	Upstream   []string        `json:"upstream"`
	Downstream []string        `json:"downstream"`
}

func (a *app) docsCommand() *cobra.Command {
	docs := &cobra.Command{Use: "docs", Short: "Documentation of the project"}
	docs.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Write target/catalog.json: every node, column, description, test, owner, upstream and downstream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			ms.Close()
			tests := map[string][]string{}
			for _, n := range p.Nodes {
				if n.Kind == tandem.KindTest && n.Test.Attached != "" {
					tests[n.Test.Attached] = append(tests[n.Test.Attached], n.ID)
				}
			}
			catalog := map[string]any{"project": p.Name, "generated_at": time.Now().UTC().Format(time.RFC3339)}
			nodes := map[string]*catalogNode{}
			for _, id := range p.Order {
				n := p.Nodes[id]
				cn := &catalogNode{Node: n, Columns: n.Columns, Tests: tests[id], Upstream: n.DependsOn, Downstream: p.Children[id]}
				if n.Kind != tandem.KindTest {
					r := p.Relation(n)
					cn.Relation = r.String()
					// Types come from the warehouse; descriptions from yml.
					if cols, err := wh.Columns(cmd.Context(), r.Schema, r.Name); err == nil && r.Expr == "" {
						desc := map[string]string{}
						for _, c := range n.Columns {
							desc[strings.ToLower(c.Name)] = c.Description
						}
						for i := range cols {
							cols[i].Description = desc[strings.ToLower(cols[i].Name)]
						}
						cn.Columns = cols
					}
				}
				sort.Strings(cn.Tests)
				nodes[id] = cn
			}
			catalog["nodes"] = nodes
			path := filepath.Join(p.Dir, "target", "catalog.json")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			old := a.stdout
			a.stdout = f
			err = a.printJSON(catalog)
			a.stdout = old
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Wrote %s: %d nodes\n", rel(p.Dir, path), len(nodes))
			return nil
		},
	})
	return docs
}

func (a *app) runsCommand() *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "runs [RUN_ID]",
		Short: "History of runs, or one run's nodes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, ms, err := a.openProjectMeta()
			if err != nil {
				return err
			}
			defer ms.Close()
			if len(args) == 1 {
				run, err := ms.FindRun(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if a.output == "json" {
					return a.printJSON(run)
				}
				fmt.Fprintf(a.stdout, "Run %s: %s %s by %s, %s, started %s\n", run.ID, run.Command, run.Args, run.StartedBy, run.Status, run.StartedAt.Local().Format(time.DateTime))
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STATUS\tNODE\tROWS\tSECONDS\tATTEMPTS\tMESSAGE")
				for _, n := range run.Nodes {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%d\t%s\n", n.Status, n.Node, n.Rows, n.Duration.Seconds(), n.Attempts, firstLine(n.Message))
				}
				return tw.Flush()
			}
			runs, err := ms.FindRuns(cmd.Context(), tandem.RunFilter{Limit: limit})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(runs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tCOMMAND\tSTATUS\tSTARTED\tSECONDS\tBY")
			for _, r := range runs {
				secs := ""
				if !r.EndedAt.IsZero() {
					secs = fmt.Sprintf("%.2f", r.EndedAt.Sub(r.StartedAt).Seconds())
				}
				fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", r.ID, r.Command, r.Args, r.Status, r.StartedAt.Local().Format(time.DateTime), secs, r.StartedBy)
			}
			return tw.Flush()
		},
	}
	c.Flags().IntVar(&limit, "limit", 20, "runs to list")
	return c
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func (a *app) rollbackCommand() *cobra.Command {
	var version int
	var list bool
	c := &cobra.Command{
		Use:   "rollback MODEL",
		Short: "Make an earlier version of a table live again (the current one is kept, so it can be undone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			n, ok := p.ByName(args[0])
			if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "no model or seed named %q", args[0])
			}
			r := a.runner(p, wh, ms)
			if list {
				vs, err := ms.TableVersions(cmd.Context(), n.ID)
				if err != nil {
					return err
				}
				if a.output == "json" {
					return a.printJSON(vs)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tREPLACED AT\tROWS\tSTORED AS")
				for _, v := range vs {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", v.Version, v.CreatedAt.Local().Format(time.DateTime), v.Rows, v.Stored)
				}
				return tw.Flush()
			}
			v, err := r.Rollback(cmd.Context(), n, version)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s is now version %d (%d rows, replaced at %s); the table it replaced is kept: `tandem rollback %s --list`\n",
				n.Name, v.Version, v.Rows, v.CreatedAt.Local().Format(time.DateTime), n.Name)
			return nil
		},
	}
	c.Flags().IntVar(&version, "version", 0, "version to restore (default: the newest kept)")
	c.Flags().BoolVar(&list, "list", false, "list the kept versions instead")
	return c
}

func (a *app) initCommand() *cobra.Command {
	var example string
	c := &cobra.Command{
		Use:   "init DIR",
		Short: "Create a new project in DIR (--example shop for the full example)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := example
			if name == "" {
				name = "starter"
			}
			if err := examples.Write(name, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Created %s project in %s. Next: tandem build --project-dir %s\n", name, args[0], args[0])
			return nil
		},
	}
	c.Flags().StringVar(&example, "example", "", "example project to start from: "+strings.Join(examples.Names(), ", "))
	return c
}

func (a *app) quickstartCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "quickstart [DIR]",
		Short: "Create the shop example in DIR (default ./tandem-shop), build it and show what was built",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "tandem-shop"
			if len(args) == 1 {
				dir = args[0]
			}
			if _, err := os.Stat(filepath.Join(dir, "dbt_project.yml")); err == nil {
				fmt.Fprintf(a.stdout, "Using the project already in %s.\n", dir)
			} else {
				if err := examples.Write("shop", dir); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Created the shop example in %s (real Online Retail data, CC BY 4.0).\n", dir)
			}
			a.projectDir = dir
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			ids, err := p.Select(nil, nil, true)
			if err != nil {
				wh.Close()
				ms.Close()
				return err
			}
			err = a.execute(cmd.Context(), p, wh, ms, &tandem.Run{Command: "build", Args: "quickstart", StartedBy: startedBy(), Trigger: "cli"}, ids)
			if err != nil {
				wh.Close()
				ms.Close()
				return err
			}
			a.quickstartSummary(cmd.Context(), p, wh)
			wh.Close()
			ms.Close()
			if err := a.quickstartModels(cmd.Context()); err != nil {
				return err
			}
			t := invocation()
			fmt.Fprintf(a.stdout, `
Next (from this folder):
  %[1]s show -s customers --limit 5 --project-dir %[2]s
  %[1]s show --inline "select * from {{ ref('daily_sales') }} order by revenue desc" --limit 5 --project-dir %[2]s
  %[1]s ls --project-dir %[2]s                  # every model, seed, source and test
  %[1]s docs generate --project-dir %[2]s       # target/catalog.json with docs and lineage
  edit %[2]s/models/marts/orders.sql, then: %[1]s build -s orders+ --project-dir %[2]s

Run it as a platform (hourly and daily jobs, freshness SLAs, alerts, web UI and HTTP API on 127.0.0.1:8080):
  %[1]s token create --role admin --project-dir %[2]s   # prints a token once
  %[1]s serve --project-dir %[2]s                 # its clock starts on 2011-09-01, where the data ends (clock.start in tandem.yaml)
  open http://127.0.0.1:8080/ and sign in with the token: catalog, lineage, runs, events, features, models
  curl -H "Authorization: Bearer <token>" http://127.0.0.1:8080/api/v1/jobs
  curl -H "Authorization: Bearer <token>" "http://127.0.0.1:8080/api/v1/models/product_recs/recommend?user=12347&k=5"
  curl -H "Authorization: Bearer <token>" "http://127.0.0.1:8080/api/v1/models/product_recs/similar?item=85123A&k=5"
  curl -H "Authorization: Bearer <token>" -d '{"entities": {"customer_id": [12347, 12348]}}' \
       http://127.0.0.1:8080/api/v1/models/buy_again/predict
`, t, dir)
			return nil
		},
	}
}

// quickstartModels trains the shop's product recommender (and its
// fallback) and its "buy again" predictor, promotes them through the gate,
// and materializes the online features the predictor reads.
func (a *app) quickstartModels(ctx context.Context) error {
	svc, done, err := a.mlService(true)
	if err != nil {
		return err
	}
	svc.Progress = nil
	projDir, _ := filepath.Abs(a.projectDir)
	fmt.Fprintf(a.stdout, "\nModels (ml/*.yml), trained and promoted through the gate into %s:\n", rel(projDir, svc.Registry.Dir))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, name := range []string{"popular_products", "product_recs", "buy_again"} {
		if _, ok := svc.Specs[name]; !ok {
			continue // an edited project
		}
		v, verdict, err := svc.TrainAndPromote(ctx, name, startedBy())
		if err != nil {
			done()
			return err
		}
		status := "production"
		if !verdict.Pass {
			status = "candidate (the gate kept production)"
		}
		m := v.Spec.Gate.Metric
		base := "most popular"
		if v.Spec.Kind == "predictor" {
			base = "prior rate"
		}
		fmt.Fprintf(tw, "  %s v%d\t%s\t%s %.4f (%s %.4f)\t%s\n", name, v.Version, v.Algorithm, m, v.Eval.Metrics[m], base, v.Eval.Baseline[m], status)
	}
	tw.Flush()
	done()
	fs, done, err := a.featureStore(ctx, true)
	if err != nil {
		return err
	}
	defer done()
	res, err := fs.Materialize(ctx, nil, time.Time{}, time.Time{}, true, nil) // up to the platform clock's now
	if err != nil {
		return err
	}
	var views []string
	for _, r := range res {
		views = append(views, fmt.Sprintf("%s (%s entities)", r.View, conv.Thousands(r.Rows)))
	}
	fmt.Fprintf(a.stdout, "Online features materialized: %s.\n", strings.Join(views, ", "))
	return nil
}

func (a *app) quickstartSummary(ctx context.Context, p *project.Project, wh tandem.Warehouse) {
	fmt.Fprintf(a.stdout, "\nBuilt into %s:\n", rel(p.Dir, p.Target.Path))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, id := range p.Order {
		n := p.Nodes[id]
		if n.Kind != tandem.KindModel && n.Kind != tandem.KindSeed || n.Materialized == tandem.Ephemeral {
			continue
		}
		r := p.Relation(n)
		rows, err := wh.Query(ctx, "select count(*) from "+r.String(), 1)
		count := "?"
		if err == nil {
			count = conv.Thousands(conv.Int64(rows.Rows[0][0]))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s rows\t%s\n", r.Schema+"."+r.Name, n.Materialized, count, firstLine(n.Description))
	}
	tw.Flush()
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(a.stdout, "tandem %s (DuckDB 1.4.5)\n", Version)
		},
	}
}

// invocation is how the user started tandem, for hints they can paste: a
// binary built by `go run` lives in a temporary go-build folder.
func invocation() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/tandem"
	}
	return filepath.Base(os.Args[0])
}

// printRows prints rows as an aligned table.
func printRows(w io.Writer, rows *tandem.Rows) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	names := make([]string, len(rows.Columns))
	for i, c := range rows.Columns {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, r := range rows.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				cells[i] = "NULL"
			} else {
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
