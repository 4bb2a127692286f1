package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/pipeline"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/sqlite"
)

// The bench commands are the load generators behind BENCHMARKS.md. Each
// prints the figure and the baseline it is compared with.
func (a *app) benchCommand() *cobra.Command {
	bench := &cobra.Command{Use: "bench", Short: "Measure Tandem on generated or example projects (figures for BENCHMARKS.md)"}
	var models, runs int
	parse := &cobra.Command{
		Use:   "parse",
		Short: "Parse and plan a generated project of --models models with refs, config, loops and tests",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "tandem-bench-parse-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if err := examples.GenerateWide(dir, models, 1); err != nil {
				return err
			}
			var times []time.Duration
			var nodes int
			for i := 0; i < runs; i++ {
				start := time.Now()
				p, err := project.Load(dir, project.Options{})
				if err != nil {
					return err
				}
				ids, err := p.Select(nil, nil, true)
				if err != nil {
					return err
				}
				times = append(times, time.Since(start))
				nodes = len(ids)
			}
			fmt.Fprintf(a.stdout, "parse+plan %d models (%d nodes with tests and seeds): %s\n", models, nodes, stats(times))
			return nil
		},
	}
	parse.Flags().IntVar(&models, "models", 10000, "models to generate")
	parse.Flags().IntVar(&runs, "runs", 5, "repetitions")

	var chainLen int
	chain := &cobra.Command{
		Use:   "chain",
		Short: "Per-node orchestration overhead: a chain of one-row table models, built by Tandem vs the same SQL run directly",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.benchChain(cmd.Context(), chainLen)
		},
	}
	chain.Flags().IntVar(&chainLen, "models", 1000, "models in the chain")

	var example, projectDir string
	build := &cobra.Command{
		Use:   "build",
		Short: "Time `tandem build` as a whole process on a fresh copy of a project (--example NAME or --dir DIR)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.benchBuild(example, projectDir, runs)
		},
	}
	build.Flags().StringVar(&example, "example", "", "an embedded example: "+strings.Join(examples.Names(), ", "))
	build.Flags().StringVar(&projectDir, "dir", "", "a project folder to copy")
	build.Flags().IntVar(&runs, "runs", 5, "repetitions")
	bench.AddCommand(parse, chain, build, a.benchAPICommand(), a.benchTriggerCommand(), a.benchCollectCommand(), a.benchFeaturesCommand(), a.benchModelsCommand())
	return bench
}

func stats(ts []time.Duration) string {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return fmt.Sprintf("min %.3fs, median %.3fs, max %.3fs over %d runs", ts[0].Seconds(), ts[len(ts)/2].Seconds(), ts[len(ts)-1].Seconds(), len(ts))
}

func (a *app) benchChain(ctx context.Context, n int) error {
	dir, err := os.MkdirTemp("", "tandem-bench-chain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := examples.GenerateChain(dir, n); err != nil {
		return err
	}
	p, err := project.Load(dir, project.Options{})
	if err != nil {
		return err
	}
	// Baseline: the compiled SQL of every model, run in order as
	// CREATE TABLE ... AS on a fresh warehouse, with nothing else.
	var sqls []string
	for _, id := range p.Order {
		sql, err := p.Compile(id, project.CompileContext{})
		if err != nil {
			return err
		}
		sqls = append(sqls, fmt.Sprintf("create or replace table %s as %s", p.Relation(p.Nodes[id]), sql))
	}
	direct := func() (time.Duration, error) {
		w, err := duckdb.Open(filepath.Join(dir, "direct.duckdb"), duckdb.Options{})
		if err != nil {
			return 0, err
		}
		defer w.Close()
		start := time.Now()
		for _, s := range sqls {
			if _, err := w.Exec(ctx, s); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	viaTandem := func() (time.Duration, error) {
		w, err := duckdb.Open(filepath.Join(dir, "tandem.duckdb"), duckdb.Options{})
		if err != nil {
			return 0, err
		}
		defer w.Close()
		m, err := sqlite.Open(filepath.Join(dir, "tandem.db"))
		if err != nil {
			return 0, err
		}
		defer m.Close()
		r := pipeline.NewRunner(p, w, m)
		start := time.Now()
		run, err := r.Run(ctx, &tandem.Run{Command: "bench"}, p.Order)
		if err != nil {
			return 0, err
		}
		if run.Status != tandem.StatusSuccess {
			return 0, fmt.Errorf("bench run failed: %+v", run.Nodes[0])
		}
		return time.Since(start), nil
	}
	fmt.Fprintf(a.stdout, "chain of %d one-row table models, 1 model at a time (a chain has no parallelism)\n", n)
	for _, label := range []string{"first build (new tables)", "rebuild (publish swaps, keeps versions)"} {
		d, err := direct()
		if err != nil {
			return err
		}
		t, err := viaTandem()
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "  %-42s direct SQL %.3fs (%.2f ms/model), tandem %.3fs (%.2f ms/model): overhead %.2f ms/model, ratio %.2fx\n",
			label, d.Seconds(), ms(d)/float64(n), t.Seconds(), ms(t)/float64(n), (ms(t)-ms(d))/float64(n), t.Seconds()/d.Seconds())
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (a *app) benchBuild(example, dir string, runs int) error {
	if (example == "") == (dir == "") {
		return tandem.Errorf(tandem.EINVALID, "give one of --example NAME or --dir DIR")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var times []time.Duration
	for i := 0; i < runs; i++ {
		tmp, err := os.MkdirTemp("", "tandem-bench-build-")
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, "p")
		if example != "" {
			err = examples.Write(example, target)
		} else {
			err = os.CopyFS(target, os.DirFS(dir))
			for _, junk := range []string{"target", "*.duckdb", "*.duckdb.wal"} {
				matches, _ := filepath.Glob(filepath.Join(target, junk))
				for _, m := range matches {
					os.RemoveAll(m)
				}
			}
		}
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "build", "--project-dir", target)
		cmd.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		times = append(times, time.Since(start))
		os.RemoveAll(tmp)
		if err != nil {
			return fmt.Errorf("build failed: %v\n%s", err, out)
		}
		if i == 0 {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			fmt.Fprintf(a.stdout, "%s\n", lines[len(lines)-1])
		}
	}
	fmt.Fprintf(a.stdout, "tandem build from scratch, whole process: %s\n", stats(times))
	return nil
}
