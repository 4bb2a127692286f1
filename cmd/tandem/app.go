package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/pipeline"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/sqlite"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

// app holds the flags shared by every command and what they open.
type app struct {
	stdout, stderr io.Writer
	projectDir     string
	output         string
	vars           string
	target         string
	threads        int
	selects        []string
	excludes       []string
	fullRefresh    bool
	// sandbox confines the warehouse's SQL to the project and its declared
	// data paths (tandem serve: SQL arrives from outside).
	sandbox bool
	// clockStart overrides clock.start of tandem.yaml for this process
	// (serve --clock-start); clock is the platform clock, known once the
	// metadata store is open.
	clockStart time.Time
	clock      tandem.Clock
}

// now is the platform clock's time: the real time unless the project sets
// clock.start.
func (a *app) now() time.Time {
	if a.clock == nil {
		return time.Now()
	}
	return a.clock()
}

// runner is a pipeline runner on the platform clock.
func (a *app) runner(p *project.Project, wh tandem.Warehouse, ms tandem.MetaStore) *pipeline.Runner {
	r := pipeline.NewRunner(p, wh, ms)
	r.Clock = a.now
	return r
}

// Main runs the CLI and returns the exit code; tests call it directly.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	if a.output == "json" {
		json.NewEncoder(stdout).Encode(map[string]any{"error": map[string]string{"code": tandem.ErrorCode(err), "message": err.Error()}})
	} else {
		fmt.Fprintln(stderr, "Error:", err)
	}
	return tandem.ExitCode(err)
}

// exitError ends a command with a code after it has reported on its own.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Tandem: the data platform where data scientists own their pipelines end to end",
		Long: `Tandem builds, tests, documents and keeps the history of SQL pipelines written as
dbt projects, on an embedded DuckDB warehouse: no server to install.

Start with:  tandem quickstart`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.projectDir, "project-dir", ".", "the project folder (holds dbt_project.yml)")
	pf.StringVarP(&a.output, "output", "o", "text", "text or json")
	pf.StringVar(&a.vars, "vars", "", "YAML map of variables for var(), e.g. '{start_date: 2011-01-01}'")
	pf.StringVar(&a.target, "target", "", "profiles.yml target (default: the profile's target)")

	selecting := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringArrayVarP(&a.selects, "select", "s", nil, "nodes to run: name, +name, name+, tag:x, path:dir, source:x (repeatable; space = union, comma = intersection)")
		c.Flags().StringArrayVar(&a.excludes, "exclude", nil, "nodes to leave out, same syntax as --select")
		return c
	}
	running := func(c *cobra.Command) *cobra.Command {
		selecting(c)
		c.Flags().IntVar(&a.threads, "threads", 0, "nodes run at once (default: profile or tandem.yaml)")
		c.Flags().BoolVar(&a.fullRefresh, "full-refresh", false, "rebuild incremental models from scratch")
		return c
	}
	root.AddCommand(
		running(a.runCommand("build", "Seed, snapshot, run and test the selected nodes in DAG order", []tandem.NodeKind{tandem.KindSeed, tandem.KindSnapshot, tandem.KindModel, tandem.KindTest})),
		running(a.runCommand("run", "Build the selected models", []tandem.NodeKind{tandem.KindModel})),
		running(a.runCommand("seed", "Load the seed CSV files", []tandem.NodeKind{tandem.KindSeed})),
		running(a.runCommand("snapshot", "Record the selected snapshots' history (type-2: dbt_valid_from, dbt_valid_to)", []tandem.NodeKind{tandem.KindSnapshot})),
		running(a.runCommand("test", "Run the tests of the selected nodes", []tandem.NodeKind{tandem.KindTest})),
		running(a.retryCommand()),
		selecting(a.compileCommand()),
		selecting(a.lsCommand()),
		selecting(a.showCommand()),
		a.docsCommand(),
		a.runsCommand(),
		a.rollbackCommand(),
		a.initCommand(),
		a.quickstartCommand(),
		a.versionCommand(),
		a.benchCommand(),
		a.backfillCommand(),
		a.freshnessCommand(),
		a.featuresCommand(),
		a.mlCommand(),
		a.serveCommand(),
		a.tokenCommand(),
		a.keyCommand(),
		a.eventsCommand(),
	)
	return root
}

func (a *app) loadProject() (*project.Project, error) {
	var vars map[string]any
	if a.vars != "" {
		if err := yaml.Unmarshal([]byte(a.vars), &vars); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "--vars is not a YAML map: %v; write it like '{key: value}'", err)
		}
	}
	p, err := project.Load(a.projectDir, project.Options{Vars: vars, Target: a.target})
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	return p, nil
}

// open loads the project and opens its warehouse and metadata store.
func (a *app) open() (*project.Project, *duckdb.Warehouse, *sqlite.MetaStore, error) {
	p, err := a.loadProject()
	if err != nil {
		return nil, nil, nil, err
	}
	opts := duckdb.Options{SearchPath: p.Dir, Settings: p.Target.Settings}
	if a.sandbox {
		if opts.Sandbox, err = sandboxOf(p); err != nil {
			return nil, nil, nil, err
		}
	}
	wh, err := duckdb.Open(p.Target.Path, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	ms, err := a.openMeta(p)
	if err != nil {
		wh.Close()
		return nil, nil, nil, err
	}
	// The collector's tables exist from the first build, so models can
	// read them as sources before any event arrives.
	if plan, err := collect.LoadPlan(p.Dir); err != nil {
		wh.Close()
		ms.Close()
		return nil, nil, nil, err
	} else if len(plan.Events) > 0 {
		if err := collect.NewLoader(nil, wh, func() *collect.Plan { return plan }).Prepare(context.Background()); err != nil {
			wh.Close()
			ms.Close()
			return nil, nil, nil, err
		}
	}
	return p, wh, ms, nil
}

func startedBy() string {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return name + "@" + host
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) runCommand(name, short string, kinds []tandem.NodeKind) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			ids, err := p.Select(a.selects, a.excludes, name == "build" || name == "test")
			if err != nil {
				return err
			}
			ids = filterKinds(p, ids, kinds)
			args := strings.TrimSpace(strings.Join(os.Args[min(2, len(os.Args)):], " "))
			return a.execute(cmd.Context(), p, wh, ms, &tandem.Run{Command: name, Args: args, StartedBy: startedBy(), Trigger: "cli"}, ids)
		},
	}
}

func filterKinds(p *project.Project, ids []string, kinds []tandem.NodeKind) []string {
	var out []string
	for _, id := range ids {
		for _, k := range kinds {
			if p.Nodes[id].Kind == k {
				out = append(out, id)
			}
		}
	}
	return out
}

// execute runs ids and reports; a failed node makes the exit code 1.
func (a *app) execute(ctx context.Context, p *project.Project, wh tandem.Warehouse, ms tandem.MetaStore, run *tandem.Run, ids []string) error {
	r := a.runner(p, wh, ms)
	if a.threads > 0 {
		r.Threads = a.threads
	}
	r.FullRefresh = a.fullRefresh
	var pr *progress
	if a.output != "json" {
		pr = newProgress(a.stdout, p)
		r.Progress = pr
	}
	run, err := r.Run(ctx, run, ids)
	if run == nil {
		return err
	}
	if a.output == "json" {
		if jerr := a.printJSON(run); jerr != nil {
			return jerr
		}
	} else {
		pr.summary(run)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return tandem.Errorf(tandem.EUNAVAILABLE, "run %s interrupted; nodes not finished were skipped: rerun them with `tandem retry`", run.ID)
		}
		return err
	}
	if run.Status != tandem.StatusSuccess {
		return &exitError{code: 1}
	}
	return nil
}

func (a *app) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry",
		Short: "Rerun only the nodes that failed or were skipped in the last run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, wh, ms, err := a.open()
			if err != nil {
				return err
			}
			defer wh.Close()
			defer ms.Close()
			runs, err := ms.FindRuns(cmd.Context(), tandem.RunFilter{Limit: 1})
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				return tandem.Errorf(tandem.ENOTFOUND, "nothing to retry: no run is recorded yet; run `tandem build` first")
			}
			last, err := ms.FindRun(cmd.Context(), runs[0].ID)
			if err != nil {
				return err
			}
			var ids []string
			for _, n := range last.Nodes {
				if n.Failed() {
					if _, ok := p.Nodes[n.Node]; ok {
						ids = append(ids, n.Node)
					}
				}
			}
			if len(ids) == 0 {
				fmt.Fprintf(a.stdout, "Nothing to retry: run %s (%s) had no failed or skipped node.\n", last.ID, last.Command)
				return nil
			}
			return a.execute(cmd.Context(), p, wh, ms, &tandem.Run{Command: "retry", Args: "of " + last.ID, StartedBy: startedBy(), Trigger: "cli"}, ids)
		},
	}
}

// openMeta opens the project's metadata store, sets the platform clock, and
// settles the runs whose process ended without finishing them: every
// command that opens the project does, so none stays "running" until the
// next tandem serve.
func (a *app) openMeta(p *project.Project) (*sqlite.MetaStore, error) {
	ms, err := sqlite.Open(filepath.Join(p.Dir, p.Settings.Metastore.Path))
	if err != nil {
		return nil, err
	}
	if a.clock, err = platformClock(context.Background(), ms, p.Settings.Clock.Start, a.clockStart); err != nil {
		ms.Close()
		return nil, err
	}
	if _, err := pipeline.SettleOrphans(context.Background(), ms, a.now()); err != nil {
		ms.Close()
		return nil, err
	}
	return ms, nil
}

// platformClock is the real clock, or the one clock.start in tandem.yaml
// sets, anchored in the metadata store so that every process of the project
// reads the same time. A --clock-start override starts the clock at that
// instant for this process only (tests and demos).
func platformClock(ctx context.Context, cs tandem.ClockStore, start, override time.Time) (tandem.Clock, error) {
	if !override.IsZero() {
		return tandem.ShiftedClock(override, time.Now()), nil
	}
	if start.IsZero() {
		return time.Now, nil
	}
	anchor, err := cs.ClockAnchor(ctx, start, time.Now())
	if err != nil {
		return nil, err
	}
	return tandem.ShiftedClock(start, anchor), nil
}

// openProjectMeta loads the project and opens only its metadata store: for
// commands that work beside a running tandem serve (it holds the warehouse).
func (a *app) openProjectMeta() (*project.Project, *sqlite.MetaStore, error) {
	p, err := a.loadProject()
	if err != nil {
		return nil, nil, err
	}
	ms, err := a.openMeta(p)
	if err != nil {
		return nil, nil, err
	}
	return p, ms, nil
}

// sandboxOf is what a sandboxed warehouse may touch: the project directory,
// its top-level folders as relative paths ("data/": dbt projects read
// files relative to the project), the warehouse's own folder and the
// declared data paths. DuckDB looks a relative path up in the working
// directory, so the process moves into the project directory.
func sandboxOf(p *project.Project) (*duckdb.Sandbox, error) {
	if err := os.Chdir(p.Dir); err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "cannot work in the project directory %s: %v", p.Dir, err)
	}
	sb := &duckdb.Sandbox{Dirs: []string{p.Dir + string(filepath.Separator)}}
	if d := filepath.Dir(p.Target.Path); !strings.HasPrefix(d+string(filepath.Separator), p.Dir+string(filepath.Separator)) {
		sb.Dirs = append(sb.Dirs, d+string(filepath.Separator))
	}
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			sb.Dirs = append(sb.Dirs, e.Name()+string(filepath.Separator))
		}
	}
	for _, d := range append([]string{p.Settings.Features.TrainingSets}, p.Settings.Warehouse.DataPaths...) {
		if !filepath.IsAbs(d) {
			d = filepath.Join(p.Dir, d)
		}
		sb.Dirs = append(sb.Dirs, filepath.Clean(d)+string(filepath.Separator))
	}
	return sb, nil
}
