package main

import (
	"context"

	"fmt"
	"io/fs"
	"log/slog"
	"net"
	nethttp "net/http"

	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/eventlog"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/http"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/kvstore"
	"github.com/tandem-data/tandem/ml"
	"github.com/tandem-data/tandem/pipeline"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/schedule"
	"github.com/tandem-data/tandem/sqlite"
)

// platform is tandem serve: one process that owns the warehouse and runs
// the scheduler, the alerter, the freshness checks and the API.
type platform struct {
	dir     string
	opts    project.Options
	proj    atomic.Pointer[project.Project]
	loadErr atomic.Pointer[string]
	wh      *duckdb.Warehouse
	meta    *sqlite.MetaStore
	sched   *schedule.Scheduler
	alerter *schedule.Alerter
	metrics *http.Metrics
	logger  *slog.Logger
	clock   tandem.Clock

	events    *eventlog.Log
	plan      atomic.Pointer[collect.Plan]
	collector *collect.Collector
	served    *servedLog // model answers, logged as events
	trainMu   sync.Mutex
	loader    *collect.Loader
	loaded    atomic.Int64 // next offset the loader will load

	features atomic.Pointer[feature.Store] // nil without features/*.yml
	models   atomic.Pointer[ml.Server]     // nil without ml/*.yml
	online   *kvstore.Store
	streams  *feature.Streams

	mu        sync.Mutex
	logs      map[string]*runLog
	logOrder  []string
	fresh     []*schedule.FreshnessResult
	runVars   map[string]map[string]any
	firstNode map[string]time.Time // run id -> when its first node started (for the overhead figure)
}

type runLog struct {
	lines []http.LogLine
	done  bool
}

func (a *app) serveCommand() *cobra.Command {
	var addr, logFormat, clockStart string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform: scheduler, freshness checks, alerts and the HTTP API (/api/v1, /metrics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clockStart != "" {
				start, err := time.Parse(time.RFC3339, clockStart)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "--clock-start %q: use RFC 3339, like 2011-09-01T00:00:00Z", clockStart)
				}
				a.clockStart = start
			}
			return a.serve(cmd.Context(), addr, logFormat)
		},
	}
	c.Flags().StringVar(&addr, "addr", "", "listen address (default: serve.addr in tandem.yaml, 127.0.0.1:8080)")
	c.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	c.Flags().StringVar(&clockStart, "clock-start", "", "start the platform clock at this instant for this process, overriding clock.start of tandem.yaml (tests and demos)")
	return c
}

func (a *app) serve(ctx context.Context, addr, logFormat string) error {
	var handler slog.Handler = slog.NewTextHandler(a.stderr, nil)
	if logFormat == "json" {
		handler = slog.NewJSONHandler(a.stderr, nil)
	} else if logFormat != "text" {
		return tandem.Errorf(tandem.EINVALID, "--log-format %q: use text or json", logFormat)
	}
	logger := slog.New(handler)
	// SQL arrives from outside: the warehouse is confined (SECURITY.md).
	abs, err := filepath.Abs(a.projectDir)
	if err != nil {
		return err
	}
	a.projectDir, a.sandbox = abs, true
	pl, err := a.newPlatform(logger)
	if err != nil {
		return err
	}
	defer pl.wh.Close()
	defer pl.meta.Close()
	p := pl.proj.Load()
	if addr == "" {
		addr = p.Settings.Serve.Addr
	}
	jobs, err := p.Jobs()
	if err != nil {
		return err
	}
	if err := pl.sched.SetJobs(ctx, jobs); err != nil {
		return err
	}
	interrupted, err := pl.sched.Recover(ctx)
	if err != nil {
		return err
	}
	for _, r := range interrupted {
		pl.alerter.RunAlerts(ctx, pl.jobOf(r), r, pl.ownerOf, p.Settings.Owner)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "listen on %s: %v; pick another with --addr", addr, err)
	}
	mux := nethttp.NewServeMux()
	mux.Handle("/v1/", pl.collector) // the Segment tracking API, on the same port
	api := http.NewServer(pl, pl.meta, pl.metrics, logger)
	api.Clock = pl.clock
	mux.Handle("/", api)
	lim := p.Settings.Serve.Limits
	limits := http.Limits{ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout, WriteTimeout: lim.WriteTimeout,
		IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes, MaxConns: lim.MaxConns}
	srv := http.NewHTTPServer(pl.metrics.Guard(mux, logger), limits, logger)
	ln = http.Listener(ln, limits.MaxConns)
	defer pl.events.Close()
	toks, _ := pl.meta.Tokens(ctx)
	logger.Info("tandem serve started", "addr", "http://"+ln.Addr().String(), "project", p.Name, "jobs", len(jobs), "warehouse", p.Target.Path)
	if len(toks) == 0 {
		logger.Warn("no API tokens yet: create one with `tandem token create --role admin --project-dir " + a.projectDir + "`")
	}
	fmt.Fprintf(a.stdout, "Serving %s on http://%s (%d jobs). Stop with Ctrl-C; running work is finished first.\n", p.Name, ln.Addr(), len(jobs))

	// One run group: every part stops when ctx ends; the worker drains.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := func(name string, fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(); logger.Debug("stopped", "part", name) }()
	}
	start("worker", func() { pl.sched.Work(ctx) })
	start("scheduler", func() { pl.sched.Run(ctx, time.Second) })
	start("alerter", func() { pl.alerter.Run(ctx) })
	start("freshness", func() { pl.watchFreshness(ctx) })
	start("reloader", func() { pl.watchFiles(ctx) })
	start("loader", func() { pl.loader.Run(ctx) })
	start("materializer", func() { pl.materializeOnSchedule(ctx) })
	start("models", func() { pl.watchModels(ctx, 2*time.Second) })
	start("retrainer", func() { pl.retrainOnSchedule(ctx) })
	// Served answers are logged until the HTTP server has stopped, so the
	// last requests' events are written too.
	servedCtx, stopServed := context.WithCancel(context.Background())
	defer stopServed()
	start("served-events", func() { pl.served.run(servedCtx, 200*time.Millisecond) })
	if pl.streams != nil && pl.streams.Len() > 0 {
		start("streams", func() {
			if err := pl.streams.Follow(ctx, pl.events); err != nil && ctx.Err() == nil {
				logger.Error("stream features stopped", "err", err)
			}
		})
	}
	if pl.online != nil {
		defer pl.online.Close()
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		cancel()
		stopServed()
		wg.Wait()
		return err
	}
	logger.Info("stopping: finishing the run in progress; queued runs resume at the next start")
	shut, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	srv.Shutdown(shut)
	stopServed()
	wg.Wait()
	logger.Info("stopped")
	return nil
}

func (a *app) newPlatform(logger *slog.Logger) (*platform, error) {
	p, wh, ms, err := a.open()
	if err != nil {
		return nil, err
	}
	clock := a.clock // known once the metadata store is open
	pl := &platform{dir: p.Dir, opts: project.Options{Target: a.target}, wh: wh, meta: ms, logger: logger, metrics: http.NewMetrics(),
		logs: map[string]*runLog{}, runVars: map[string]map[string]any{}, firstNode: map[string]time.Time{}}
	pl.proj.Store(p)
	pl.clock = clock
	pl.served = newServedLog(func() *collect.Collector { return pl.collector }, pl.metrics.Registry, logger)
	pl.sched = schedule.New(ms, pl, pipeline.NewRunID)
	pl.sched.Clock = clock
	pl.sched.Logger = logger
	pl.sched.Grace = time.Minute
	pl.sched.DataMarker = pl.dataMark
	pl.sched.DataPoll = p.Settings.Serve.Poll
	pl.sched.OnQueue = func(depth int) { pl.metrics.QueueDepth.Set(float64(depth)) }
	pl.sched.OnFinish = func(job *tandem.Job, run *tandem.Run) {
		pl.alerter.RunAlerts(context.Background(), job, run, pl.ownerOf, pl.proj.Load().Settings.Owner)
	}
	pl.alerter = schedule.NewAlerter(ms, pl.route)
	pl.alerter.Logger = logger
	pl.alerter.Clock = clock
	pl.alerter.Attempts, pl.alerter.Backoff = p.Settings.Alerts.Attempts, p.Settings.Alerts.Backoff
	pl.alerter.OnDelivery = func(outcome string) { pl.metrics.AlertOutcomes.WithLabelValues(outcome).Inc() }
	if err := pl.openCollector(p); err != nil {
		wh.Close()
		ms.Close()
		return nil, err
	}
	if err := pl.openFeatures(context.Background(), p); err != nil {
		pl.events.Close()
		wh.Close()
		ms.Close()
		return nil, err
	}
	if err := pl.openModels(p); err != nil {
		pl.events.Close()
		wh.Close()
		ms.Close()
		return nil, err
	}
	return pl, nil
}

// openModels loads the model specs and the production version of each
// model from the registry.
func (pl *platform) openModels(p *project.Project) error {
	specs, err := ml.Load(p)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		pl.models.Store(nil)
		return nil
	}
	s := &ml.Server{Registry: &ml.Registry{Dir: abs(p, p.Settings.ML.Registry)}, Specs: specs, Features: pl.Features, Served: pl.served.add, Warehouse: pl.wh}
	if err := s.RefreshFilters(context.Background()); err != nil {
		pl.logger.Warn("a model's filter could not be read; requests that ask for it get 503 until it can", "err", err)
	}
	changed, err := s.Refresh()
	if err != nil {
		pl.logger.Warn("a model version could not be loaded", "err", err)
	}
	if len(changed) > 0 {
		pl.logger.Info("serving models", "versions", strings.Join(changed, ", "))
	}
	pl.models.Store(s)
	return nil
}

// watchModels swaps in a model version as soon as it is promoted or
// rolled back (by the CLI or another process): the registry's aliases are
// read every interval; the swap is one atomic pointer store per model set.
func (pl *platform) watchModels(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	filtered := time.Now() // openModels read them
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := pl.models.Load()
		if s == nil {
			continue
		}
		changed, err := s.Refresh()
		if err != nil {
			pl.logger.Warn("a model version could not be loaded; the previous one keeps serving", "err", err)
		}
		if time.Since(filtered) > time.Minute {
			filtered = time.Now()
			if err := s.RefreshFilters(ctx); err != nil {
				pl.logger.Warn("a model's filter could not be read again; it keeps its previous items", "err", err)
			}
		}
		if len(changed) > 0 {
			pl.logger.Info("model versions swapped in", "versions", strings.Join(changed, ", "))
		}
	}
}

// TrainModel implements http.Platform: it trains a new version of a model
// in this process (which holds the warehouse) and, with promote, promotes
// it if the gate passes; a refusal is audited and production stays.
func (pl *platform) TrainModel(ctx context.Context, actor, name string, promote bool) (*ml.Version, *ml.Verdict, error) {
	s := pl.models.Load()
	if s == nil {
		return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "the project declares no models (ml/*.yml)")
	}
	pl.trainMu.Lock() // one training at a time: each holds a model's data in memory
	defer pl.trainMu.Unlock()
	svc := &ml.Service{Specs: s.Specs, Warehouse: pl.wh, Meta: pl.meta, Registry: s.Registry, Features: pl.Features()}
	if !promote {
		v, err := svc.Train(ctx, name, actor)
		return v, nil, err
	}
	v, verdict, err := svc.TrainAndPromote(ctx, name, actor)
	if err != nil {
		return v, verdict, err
	}
	pl.swapModels(s)
	return v, verdict, nil
}

// retrainOnSchedule trains each model whose spec has a schedule (a cron
// expression, UTC) at its times, and promotes the new version only
// through the gate. Specs are read again each minute, so an edited
// schedule applies without a restart.
func (pl *platform) retrainOnSchedule(ctx context.Context) {
	last := pl.clock()
	for {
		s := pl.models.Load()
		now := pl.clock()
		wait := time.Minute
		var due []string
		if s != nil {
			for _, name := range sorted.Keys(s.Specs) {
				sp := s.Specs[name]
				if sp.Schedule == "" {
					continue
				}
				cron, err := schedule.ParseCron(sp.Schedule, "UTC")
				if err != nil {
					pl.logger.Error("a model's schedule is not a cron expression; it is not retrained", "model", name, "file", sp.File, "err", err)
					continue
				}
				if !cron.Next(last).After(now) {
					due = append(due, name)
				} else {
					wait = min(wait, cron.Next(now).Sub(now))
				}
			}
		}
		last = now
		for _, name := range due {
			began := time.Now()
			v, verdict, err := pl.TrainModel(ctx, "schedule", name, true)
			switch {
			case err != nil:
				pl.logger.Error("scheduled training failed; production is unchanged", "model", name, "err", err)
			case verdict != nil && verdict.Pass:
				pl.logger.Info("retrained on schedule and promoted through the gate", "model", name, "version", v.Version, "why", verdict.Why, "seconds", time.Since(began).Seconds())
			default:
				why := ""
				if verdict != nil {
					why = verdict.Why
				}
				pl.logger.Warn("retrained on schedule; the gate kept production", "model", name, "version", v.Version, "why", why)
			}
		}
		if len(due) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Second)):
		}
	}
}

// Models implements http.Platform.
func (pl *platform) Models() *ml.Server { return pl.models.Load() }

// openFeatures loads the feature definitions and opens the online store.
// Stream views are followed from the event log (started by serve). A
// source that is not built yet is a warning, not a failure: serving what
// is materialized works without it.
func (pl *platform) openFeatures(ctx context.Context, p *project.Project) error {
	reg, err := feature.Load(p)
	if err != nil {
		return err
	}
	if len(reg.Views) == 0 {
		return nil
	}
	if err := reg.Check(ctx, pl.wh); err != nil {
		pl.logger.Warn("feature views do not match the warehouse yet", "err", err)
	}
	if pl.online == nil {
		if pl.online, err = kvstore.Open(abs(p, p.Settings.Features.OnlineStore)); err != nil {
			return err
		}
	}
	if pl.streams == nil {
		pl.streams = feature.NewStreams(reg)
		pl.streams.Logger = pl.logger
	}
	pl.features.Store(&feature.Store{Project: p, Registry: reg, Warehouse: pl.wh, Meta: pl.meta, Online: pl.online,
		Dir: abs(p, p.Settings.Features.TrainingSets), Clock: pl.clock, Streams: pl.streams})
	return nil
}

// Features implements http.Platform.
func (pl *platform) Features() *feature.Store { return pl.features.Load() }

// materializeOnSchedule materializes every online view incrementally at
// the times of features.materialize (a cron expression).
func (pl *platform) materializeOnSchedule(ctx context.Context) {
	expr := pl.proj.Load().Settings.Features.Materialize
	if expr == "" || expr == "off" || pl.Features() == nil {
		return
	}
	cron, err := schedule.ParseCron(expr, "UTC")
	if err != nil {
		pl.logger.Error("features.materialize is not a cron expression; features are not materialized on a schedule", "err", err)
		return
	}
	for {
		next := cron.Next(pl.clock())
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(pl.clock())): // the platform's clock, which tests and demos shift
		}
		fs := pl.Features()
		res, err := fs.Materialize(ctx, nil, time.Time{}, pl.clock(), true, nil)
		if err != nil {
			pl.logger.Error("scheduled materialization failed", "err", err)
			continue
		}
		for _, r := range res {
			pl.logger.Info("materialized", "view", r.View, "rows", r.Rows, "seconds", r.Seconds)
		}
	}
}

// openCollector opens the event log and the tracking plan, and sets up the
// collector and its loader.
func (pl *platform) openCollector(p *project.Project) error {
	plan, err := collect.LoadPlan(p.Dir)
	if err != nil {
		return err
	}
	pl.plan.Store(plan)
	cs := p.Settings.Collect
	dir := cs.LogDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(p.Dir, dir)
	}
	if pl.events, err = eventlog.Open(dir, eventlog.Options{Linger: cs.Linger, Logger: pl.logger,
		MaxAge: cs.Retention.MaxAge, MaxBytes: cs.Retention.MaxBytes}); err != nil {
		return err
	}
	if cs.Retention.MaxAge > 0 && cs.Retention.MaxAge < cs.DedupWindow {
		pl.logger.Warn("collect.retention.max_age is shorter than collect.dedup_window: after a restart, duplicates older than max_age are not recognized",
			"max_age", cs.Retention.MaxAge, "dedup_window", cs.DedupWindow)
	}
	planFn := func() *collect.Plan { return pl.plan.Load() }
	pl.loader = collect.NewLoader(pl.events, pl.wh, planFn)
	pl.loader.Logger = pl.logger
	pl.loader.Interval = cs.LoadEvery
	pl.loader.TempDir = filepath.Join(filepath.Dir(p.Target.Path), "loader-staging") // the warehouse's folder: in its sandbox
	if err := os.MkdirAll(pl.loader.TempDir, 0o700); err != nil {
		pl.events.Close()
		return err
	}
	owner := cs.Owner
	if owner == "" {
		owner = p.Settings.Owner
	}
	pl.loader.OnDeadLetter = func(offset int64, reason string) {
		pl.metrics.DeadLetters.Inc()
		pl.alerter.Raise(context.Background(), "collect:dead_letter", owner, fmt.Sprintf(
			"the loader set event log record %d aside in %s.dead_letter: %s (the loader goes on; look at the table, fix the cause, and replay it)",
			offset, pl.loader.Schema, reason))
	}
	if err := pl.loader.Prepare(context.Background()); err != nil {
		pl.events.Close()
		return err
	}
	next, err := pl.loader.Next(context.Background())
	if err != nil {
		pl.events.Close()
		return err
	}
	pl.loaded.Store(next)
	var trimmed time.Time
	pl.loader.OnLoad = func(next int64, events, quarantined int, received []time.Time) {
		now := time.Now()
		for _, r := range received {
			pl.metrics.EndToEnd.Observe(now.Sub(r).Seconds())
		}
		// Retention, at most once a minute, of what is loaded only.
		if now.Sub(trimmed) > time.Minute {
			trimmed = now
			if _, err := pl.events.Trim(next, now); err != nil {
				pl.logger.Error("event log retention failed", "err", err)
			}
		}
		pl.loaded.Store(next)
		pl.metrics.Loaded.Add(float64(events + quarantined))
		pl.metrics.LoaderLag.Set(float64(pl.events.End() - next))
	}
	dedup := collect.NewDedup(cs.DedupWindow)
	if err := dedup.Rebuild(context.Background(), pl.events, pl.clock()); err != nil {
		pl.events.Close()
		return err
	}
	pl.collector = &collect.Collector{Log: pl.events, Plan: planFn, Tokens: pl.meta, Clock: pl.clock, Logger: pl.logger, Dedup: dedup,
		Behind: func() int64 { return pl.events.End() - pl.loaded.Load() }, MaxBehind: cs.MaxBehind,
		OnCollect: func(accepted, quarantined, duplicates int) {
			pl.metrics.Events.WithLabelValues("accepted").Add(float64(accepted))
			pl.metrics.Events.WithLabelValues("quarantined").Add(float64(quarantined))
			pl.metrics.Events.WithLabelValues("duplicate").Add(float64(duplicates))
			pl.metrics.LoaderLag.Set(float64(pl.events.End() - pl.loaded.Load()))
		}}
	pl.metrics.LoaderLag.Set(float64(pl.events.End() - next))
	return nil
}

func (pl *platform) route(owner string) string {
	s := pl.proj.Load().Settings.Alerts
	if url, ok := s.Owners[owner]; ok {
		return url
	}
	return s.DefaultWebhook
}

func (pl *platform) ownerOf(id string) string {
	p := pl.proj.Load()
	n, ok := p.Nodes[id]
	if !ok {
		return p.Settings.Owner
	}
	if n.Kind == tandem.KindTest && n.Test.Attached != "" {
		if t, ok := p.Nodes[n.Test.Attached]; ok && t.Owner != "" {
			return t.Owner
		}
	}
	if n.Owner != "" {
		return n.Owner
	}
	return p.Settings.Owner
}

func (pl *platform) jobOf(r *tandem.Run) *tandem.Job {
	for _, js := range pl.sched.Jobs() {
		if js.Job.Name == r.Job {
			return js.Job
		}
	}
	return &tandem.Job{Name: r.Job, Command: r.Command}
}

// Execute carries out one run: the scheduler calls it, one at a time.
func (pl *platform) Execute(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error) {
	p := pl.proj.Load() // a reload during the run does not change it
	logger := pl.logger.With("run_id", run.ID, "job", job.Name)
	jobLabel := job.Name
	if jobLabel == "" {
		jobLabel = "adhoc"
	}
	pl.metrics.RunsStarted.WithLabelValues(jobLabel).Inc()
	pl.log(run.ID, "info", "", fmt.Sprintf("run started: %s %s (trigger %s)", run.Command, run.Args, run.Trigger))
	logger.Info("run started", "command", run.Command, "args", run.Args, "trigger", run.Trigger)
	r := pipeline.NewRunner(p, pl.wh, pl.meta)
	r.Clock = pl.clock
	r.Progress = &serveProgress{pl: pl, runID: run.ID, logger: logger}
	var out *tandem.Run
	var err error
	if run.Command == "backfill" {
		out, err = pl.executeBackfill(ctx, r, run)
	} else {
		r.FullRefresh = job.FullRefresh || strings.Contains(run.Args, "--full-refresh")
		pl.mu.Lock()
		r.Vars = pl.runVars[run.ID]
		delete(pl.runVars, run.ID)
		pl.mu.Unlock()
		var ids []string
		ids, err = selectFor(p, run.Command, job.Select, job.Exclude)
		if err == nil {
			out, err = r.Run(ctx, run, ids)
		}
	}
	if out == nil {
		out = run
	}
	status := string(out.Status)
	if err != nil {
		status = "error"
		pl.log(run.ID, "error", "", "run could not be carried out: "+err.Error())
	}
	pl.metrics.RunsFinished.WithLabelValues(jobLabel, status).Inc()
	pl.log(run.ID, "info", "", "run finished: "+status)
	pl.mu.Lock()
	if l := pl.logs[run.ID]; l != nil {
		l.done = true
	}
	pl.mu.Unlock()
	logger.Info("run finished", "status", status)
	return out, err
}

func selectFor(p *project.Project, command string, sel, excl []string) ([]string, error) {
	kinds := map[string][]tandem.NodeKind{
		"build": {tandem.KindSeed, tandem.KindSnapshot, tandem.KindModel, tandem.KindTest}, "run": {tandem.KindModel},
		"seed": {tandem.KindSeed}, "snapshot": {tandem.KindSnapshot}, "test": {tandem.KindTest},
	}[command]
	if kinds == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "command %q: use build, run, seed, snapshot or test", command)
	}
	ids, err := p.Select(sel, excl, command == "build" || command == "test")
	if err != nil {
		return nil, err
	}
	return filterKinds(p, ids, kinds), nil
}

// serveProgress turns node events into the run's log, logs and metrics.
type serveProgress struct {
	pl     *platform
	runID  string
	logger *slog.Logger
}

func (sp *serveProgress) Planned(run *tandem.Run, total int) {
	sp.pl.log(sp.runID, "info", "", fmt.Sprintf("%d nodes to run", total))
}

func (sp *serveProgress) Started(n *tandem.Node) {
	sp.pl.mu.Lock()
	if _, ok := sp.pl.firstNode[sp.runID]; !ok {
		sp.pl.firstNode[sp.runID] = time.Now()
	}
	sp.pl.mu.Unlock()
	sp.pl.log(sp.runID, "info", n.ID, "started "+string(n.Kind)+" "+n.Name)
}

func (sp *serveProgress) Finished(n *tandem.Node, res *tandem.NodeResult, done, total int) {
	level := "info"
	if res.Failed() {
		level = "error"
	}
	msg := fmt.Sprintf("%d/%d %s %s %s: %d rows in %.3fs", done, total, res.Status, n.Kind, n.Name, res.Rows, res.Duration.Seconds())
	if res.Message != "" {
		msg += ": " + res.Message
	}
	sp.pl.log(sp.runID, level, n.ID, msg)
	sp.logger.Info("node finished", "node", n.ID, "status", res.Status, "rows", res.Rows, "seconds", res.Duration.Seconds())
	sp.pl.metrics.NodeDuration.WithLabelValues(string(n.Kind), string(res.Status)).Observe(res.Duration.Seconds())
}

func (pl *platform) log(runID, level, node, msg string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	l, ok := pl.logs[runID]
	if !ok {
		l = &runLog{}
		pl.logs[runID] = l
		pl.logOrder = append(pl.logOrder, runID)
		if len(pl.logOrder) > 200 { // keep the logs of the latest runs
			delete(pl.logs, pl.logOrder[0])
			pl.logOrder = pl.logOrder[1:]
		}
	}
	l.lines = append(l.lines, http.LogLine{N: len(l.lines) + 1, At: time.Now().UTC(), Level: level, Node: node, Msg: msg})
}

// The http.Platform methods.

func (pl *platform) Project() *project.Project { return pl.proj.Load() }

func (pl *platform) Ready(ctx context.Context) error {
	if _, err := pl.meta.FindRuns(ctx, tandem.RunFilter{Limit: 1}); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	if _, err := pl.wh.Query(ctx, "select 1", 1); err != nil {
		return fmt.Errorf("warehouse: %w", err)
	}
	return nil
}

func (pl *platform) Preview(ctx context.Context, n *tandem.Node, limit int) (*tandem.Rows, error) {
	if n.Kind == tandem.KindTest || n.Materialized == tandem.Ephemeral {
		return nil, tandem.Errorf(tandem.EINVALID, "%s is a %s %s: it has no rows to preview", n.Name, n.Materialized, n.Kind)
	}
	rows, err := pl.wh.Query(ctx, "select * from "+pl.proj.Load().Relation(n).String(), limit)
	if err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s cannot be read (not built yet?): %v", n.Name, err)
	}
	return rows, nil
}

func (pl *platform) StartRun(ctx context.Context, actor string, req *http.RunRequest) (*tandem.Run, error) {
	if req.Command == "" {
		req.Command = "build"
	}
	if _, err := selectFor(pl.proj.Load(), req.Command, req.Select, req.Exclude); err != nil {
		return nil, err
	}
	if err := pl.proj.Load().CheckVars(req.Vars); err != nil {
		return nil, err
	}
	job := &tandem.Job{Command: req.Command, Select: req.Select, Exclude: req.Exclude, FullRefresh: req.FullRefresh}
	run := &tandem.Run{ID: pipeline.NewRunID(pl.clock()), Command: req.Command, Args: argsOf(job), StartedBy: actor, Trigger: "api"}
	if len(req.Vars) > 0 {
		pl.mu.Lock()
		pl.runVars[run.ID] = req.Vars
		pl.mu.Unlock()
	}
	return run, pl.sched.Enqueue(ctx, job, run)
}

func argsOf(j *tandem.Job) string {
	var parts []string
	for _, s := range j.Select {
		parts = append(parts, "--select "+s)
	}
	for _, s := range j.Exclude {
		parts = append(parts, "--exclude "+s)
	}
	if j.FullRefresh {
		parts = append(parts, "--full-refresh")
	}
	return strings.Join(parts, " ")
}

func (pl *platform) TriggerJob(ctx context.Context, actor, name string) (*tandem.Run, error) {
	for _, js := range pl.sched.Jobs() {
		if js.Job.Name == name {
			run := &tandem.Run{ID: pipeline.NewRunID(pl.clock()), Command: js.Job.Command, Args: argsOf(js.Job), StartedBy: actor, Job: name, Trigger: "api"}
			return pl.sched.Trigger(ctx, js.Job, run)
		}
	}
	var names []string
	for _, js := range pl.sched.Jobs() {
		names = append(names, js.Job.Name)
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "no job %q; jobs: %s", name, strings.Join(names, ", "))
}

func (pl *platform) backfillPlan(req *http.BackfillRequest) (*pipeline.Backfill, error) {
	from, err := parseWhen("start", req.Start)
	if err != nil {
		return nil, err
	}
	to, err := parseWhen("end", req.End)
	if err != nil {
		return nil, err
	}
	if req.Batch == "" {
		req.Batch = "1d"
	}
	b, err := pipeline.ParseBatch(req.Batch)
	if err != nil {
		return nil, err
	}
	p := pl.proj.Load()
	n, ok := p.ByName(req.Model)
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no model named %q", req.Model)
	}
	return pipeline.NewRunner(p, pl.wh, pl.meta).PlanBackfill(n, from, to, b)
}

func (pl *platform) StartBackfill(ctx context.Context, actor string, req *http.BackfillRequest) (*http.BackfillStatus, error) {
	b, err := pl.backfillPlan(req)
	if err != nil {
		return nil, err
	}
	run := &tandem.Run{ID: pipeline.NewRunID(pl.clock()), Command: "backfill", StartedBy: actor, Trigger: "api", Job: "backfill:" + b.ID,
		Args: fmt.Sprintf("%s --start %s --end %s --batch %s", req.Model, req.Start, req.End, req.Batch)}
	if err := pl.sched.Enqueue(ctx, &tandem.Job{Name: run.Job, Command: "backfill"}, run); err != nil {
		return nil, err
	}
	st, err := pl.Backfill(ctx, b.ID)
	if st != nil {
		st.RunID = run.ID
	}
	return st, err
}

func (pl *platform) executeBackfill(ctx context.Context, r *pipeline.Runner, run *tandem.Run) (*tandem.Run, error) {
	f := strings.Fields(run.Args) // MODEL --start S --end E --batch B
	if len(f) != 7 {
		return nil, fmt.Errorf("backfill run %s has unreadable arguments %q", run.ID, run.Args)
	}
	b, err := pl.backfillPlan(&http.BackfillRequest{Model: f[0], Start: f[2], End: f[4], Batch: f[6]})
	if err != nil {
		return nil, err
	}
	// The run was stored as queued by the scheduler: RunBackfill records it.
	return r.RunBackfill(ctx, run, b, func(iv *tandem.Interval, done, total int, skipped bool) {
		if !skipped {
			pl.log(run.ID, "info", b.Node.ID, fmt.Sprintf("interval %d/%d %s..%s %s: %d rows %s", done, total,
				iv.Start.Format(time.DateTime), iv.End.Format(time.DateTime), iv.Status, iv.Rows, iv.Message))
		}
	})
}

func (pl *platform) Backfill(ctx context.Context, id string) (*http.BackfillStatus, error) {
	ivs, err := pl.meta.Intervals(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(ivs) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no backfill %q; POST /api/v1/backfills starts one", id)
	}
	st := &http.BackfillStatus{ID: id, Intervals: ivs}
	for _, iv := range ivs {
		st.Model = iv.Node
		if iv.Status == tandem.StatusSuccess {
			st.Done++
		}
	}
	return st, nil
}

func (pl *platform) Freshness(ctx context.Context) []*schedule.FreshnessResult {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.fresh == nil {
		return []*schedule.FreshnessResult{}
	}
	return pl.fresh
}

func (pl *platform) Jobs() []schedule.JobStatus { return pl.sched.Jobs() }

func (pl *platform) RunLog(ctx context.Context, id string, after int) ([]http.LogLine, bool, error) {
	pl.mu.Lock()
	l, ok := pl.logs[id]
	var lines []http.LogLine
	done := false
	if ok {
		if after < len(l.lines) {
			lines = append(lines, l.lines[after:]...)
		}
		done = l.done
	}
	pl.mu.Unlock()
	if ok {
		return lines, done, nil
	}
	// Runs from before this process started: their log is their results.
	run, err := pl.meta.FindRun(ctx, id)
	if err != nil {
		return nil, false, err
	}
	for i, n := range run.Nodes {
		if i+1 > after {
			lines = append(lines, http.LogLine{N: i + 1, At: n.StartedAt, Level: "info", Node: n.Node, Msg: fmt.Sprintf("%s: %d rows in %.3fs %s", n.Status, n.Rows, n.Duration.Seconds(), n.Message)})
		}
	}
	return lines, run.Status != tandem.StatusRunning && run.Status != tandem.StatusQueued, nil
}

func (pl *platform) Reload(ctx context.Context) error {
	p, err := project.Load(pl.dir, pl.opts)
	var plan *collect.Plan
	if err == nil {
		plan, err = collect.LoadPlan(pl.dir)
	}
	if err == nil && pl.loader != nil {
		// Check the new plan against the loaded tables before using it.
		probe := *pl.loader
		probe.Plan = func() *collect.Plan { return plan }
		err = probe.Prepare(ctx)
	}
	if err == nil {
		var jobs []*tandem.Job
		if jobs, err = p.Jobs(); err == nil {
			err = pl.sched.SetJobs(ctx, jobs)
		}
	}
	if err != nil {
		msg := err.Error()
		pl.loadErr.Store(&msg)
		pl.logger.Error("reload failed; the last good project keeps running", "err", err)
		return err
	}
	if err := pl.openFeatures(ctx, p); err != nil {
		msg := err.Error()
		pl.loadErr.Store(&msg)
		pl.logger.Error("reload failed; the last good project keeps running", "err", err)
		return err
	}
	if err := pl.openModels(p); err != nil {
		msg := err.Error()
		pl.loadErr.Store(&msg)
		pl.logger.Error("reload failed; the last good project keeps running", "err", err)
		return err
	}
	pl.loadErr.Store(nil)
	pl.proj.Store(p)
	pl.plan.Store(plan)
	pl.logger.Info("project reloaded", "nodes", len(p.Nodes))
	return nil
}

// PromoteModel promotes through the gate and swaps the served version.
func (pl *platform) PromoteModel(ctx context.Context, actor, name string, version int, force bool, reason string) (*ml.Verdict, error) {
	s := pl.models.Load()
	if s == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "the project declares no models (ml/*.yml)")
	}
	pl.trainMu.Lock() // the gate may evaluate production again on the candidate's data
	defer pl.trainMu.Unlock()
	svc := &ml.Service{Specs: s.Specs, Warehouse: pl.wh, Meta: pl.meta, Registry: s.Registry, Features: pl.Features()}
	verdict, err := svc.Promote(ctx, name, version, force, reason, actor)
	if err != nil {
		return verdict, err
	}
	pl.swapModels(s)
	return verdict, nil
}

// RollbackModel puts the previous production version back and serves it.
func (pl *platform) RollbackModel(ctx context.Context, actor, name, reason string) (int, int, error) {
	s := pl.models.Load()
	if s == nil {
		return 0, 0, tandem.Errorf(tandem.ENOTFOUND, "the project declares no models (ml/*.yml)")
	}
	if _, ok := s.Specs[name]; !ok {
		return 0, 0, tandem.Errorf(tandem.ENOTFOUND, "no model %q", name)
	}
	from, to, err := s.Registry.Rollback(name, actor, reason)
	if err != nil {
		return 0, 0, err
	}
	pl.swapModels(s)
	return from, to, nil
}

func (pl *platform) swapModels(s *ml.Server) {
	if changed, err := s.Refresh(); err != nil {
		pl.logger.Error("model versions not swapped in", "err", err)
	} else if len(changed) > 0 {
		pl.logger.Info("model versions swapped in", "versions", strings.Join(changed, ", "))
	}
}

func (pl *platform) RollbackTable(ctx context.Context, actor string, n *tandem.Node, version int) (*tandem.TableVersion, error) {
	v, err := pipeline.NewRunner(pl.Project(), pl.wh, pl.meta).Rollback(ctx, n, version)
	if err == nil {
		pl.logger.Info("table rolled back", "node", n.ID, "version", v.Version, "by", actor)
	}
	return v, err
}

func (pl *platform) Plan() *collect.Plan { return pl.plan.Load() }

func (pl *platform) EventStats(ctx context.Context, minutes int) (*collect.Stats, error) {
	schema := "events"
	if pl.loader != nil {
		schema = pl.loader.Schema
	}
	return collect.LoadStats(ctx, pl.wh, schema, pl.clock(), minutes)
}

func (pl *platform) ReplayQuarantined(ctx context.Context) (any, error) {
	return pl.loader.Replay(ctx)
}

func (pl *platform) Alerts() []*schedule.Delivery {
	d := pl.alerter.Recent()
	if d == nil {
		return []*schedule.Delivery{}
	}
	return d
}

// dataMark fingerprints the upstream data of a job: the newest row of each
// upstream source with a loaded_at_field, and the last successful build of
// each upstream model outside the job.
func (pl *platform) dataMark(ctx context.Context, job *tandem.Job) (string, error) {
	p := pl.proj.Load()
	ids, err := p.Select(job.Select, job.Exclude, false)
	if err != nil {
		return "", err
	}
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	up := map[string]bool{}
	for _, id := range ids {
		for _, d := range p.Nodes[id].DependsOn {
			if !in[d] {
				up[d] = true
			}
		}
	}
	var parts []string
	for id := range up {
		n := p.Nodes[id]
		var at time.Time
		switch {
		case n.Kind == tandem.KindSource && n.LoadedAtField != "":
			rows, err := pl.wh.Query(ctx, fmt.Sprintf("select epoch_us(max(cast(%s as timestamp))) from %s", project.QuoteIdent(n.LoadedAtField), p.Relation(n)), 1)
			if err != nil {
				return "", err
			}
			parts = append(parts, fmt.Sprintf("%s=%v", id, rows.Rows[0][0]))
			continue
		case n.Kind == tandem.KindModel || n.Kind == tandem.KindSeed:
			if at, err = pl.meta.LastSuccess(ctx, id); err != nil {
				return "", err
			}
		default:
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", id, at.UnixMicro()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";"), nil
}

func (pl *platform) watchFreshness(ctx context.Context) {
	for {
		p := pl.proj.Load()
		results := schedule.CheckFreshness(ctx, p, pl.wh, pl.meta.LastSuccess, pl.clock())
		for _, r := range results {
			if !r.LoadedAt.IsZero() {
				pl.metrics.FreshnessLag.WithLabelValues(r.Name, r.Kind).Set(r.Age.Seconds())
			}
		}
		pl.mu.Lock()
		pl.fresh = results
		pl.mu.Unlock()
		pl.alerter.FreshnessAlerts(ctx, results)
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.Settings.Serve.Poll):
		}
	}
}

// watchFiles reloads the project when one of its files changes.
func (pl *platform) watchFiles(ctx context.Context) {
	last := pl.fingerprint()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if fp := pl.fingerprint(); fp != last {
			last = fp
			pl.logger.Info("project files changed; reloading")
			pl.Reload(ctx)
		}
	}
}

func (pl *platform) fingerprint() string {
	var b strings.Builder
	filepath.WalkDir(pl.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "target" || strings.HasPrefix(d.Name(), ".") && path != pl.dir) {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".sql", ".yml", ".yaml", ".csv", ".md":
			if info, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "%s:%d:%d;", path, info.Size(), info.ModTime().UnixNano())
			}
		}
		return nil
	})
	return b.String()
}
