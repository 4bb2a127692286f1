package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// Runner runs selected nodes of one project.
type Runner struct {
	Project   *project.Project
	Warehouse tandem.Warehouse
	Meta      tandem.MetaStore

	Threads      int
	FullRefresh  bool
	Vars         map[string]any // extra vars for this run (backfill intervals)
	KeepVersions int
	Attempts     int           // per node, including the first
	Backoff      time.Duration // before the second attempt; doubles after
	Clock        tandem.Clock
	// Progress, when set, is told about every node as it starts and ends.
	Progress Progress

	// catalog is the warehouse's relations ("schema.name" -> "table" or
	// "view"), read once per run and kept current by the runner, which is
	// the only writer while it runs: per-node catalog queries cost more
	// than building a small model.
	catMu    sync.Mutex
	schemaMu sync.Mutex
	catalog  map[string]string
	schemas  map[string]bool
}

// Progress receives events of a run; calls are serialized.
type Progress interface {
	Planned(run *tandem.Run, total int)
	Started(n *tandem.Node)
	Finished(n *tandem.Node, res *tandem.NodeResult, done, total int)
}

// NewRunner returns a runner with the project's settings.
func NewRunner(p *project.Project, w tandem.Warehouse, m tandem.MetaStore) *Runner {
	return &Runner{
		Project: p, Warehouse: w, Meta: m,
		Threads: p.Target.Threads, KeepVersions: p.Settings.KeepVersions,
		Attempts: p.Settings.Retries.Attempts, Backoff: p.Settings.Retries.Backoff,
		Clock: time.Now,
	}
}

// NewRunID returns a sortable, unique run id.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// Run executes ids (in any order; the DAG decides) as one recorded run.
// It returns the run with every node's result; the error is non-nil only
// when the run could not be carried out at all (the store failed, ctx was
// cancelled). Failed nodes are reported in the run, not as an error.
func (r *Runner) Run(ctx context.Context, run *tandem.Run, ids []string) (*tandem.Run, error) {
	p := r.Project
	if run.ID == "" {
		run.ID = NewRunID(r.Clock())
	}
	claimed := run.Status == tandem.StatusQueued // by the scheduler, already stored
	run.Status, run.StartedAt, run.Process = tandem.StatusRunning, r.Clock(), tandem.ThisProcess()
	store := r.Meta.CreateRun
	if claimed {
		store = r.Meta.UpdateRun
	}
	if err := store(ctx, run); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	cat, err := r.Warehouse.Relations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the warehouse catalog: %w", err)
	}
	r.catMu.Lock()
	r.catalog, r.schemas = cat, map[string]bool{}
	r.catMu.Unlock()
	// Sources and ephemeral models have nothing to run.
	var plan []string
	for _, id := range ids {
		n := p.Nodes[id]
		if n.Kind == tandem.KindSource || n.Materialized == tandem.Ephemeral {
			continue
		}
		plan = append(plan, id)
	}
	deps := r.edges(plan)
	if r.Progress != nil {
		r.Progress.Planned(run, len(plan))
	}
	// on-run-start: when it fails nothing runs, and every node says why.
	startErr := r.runHooks(ctx, "on-run-start", nil)

	threads := max(r.Threads, 1)
	var (
		mu       sync.Mutex
		results  = map[string]*tandem.NodeResult{}
		waiting  = map[string]int{}
		children = map[string][]string{}
		ready    []string
		done     int
		storeErr error
	)
	for _, id := range plan {
		waiting[id] = len(deps[id])
		for _, d := range deps[id] {
			children[d] = append(children[d], id)
		}
		if len(deps[id]) == 0 {
			ready = append(ready, id)
		}
	}
	work := make(chan string)
	finished := make(chan *tandem.NodeResult)
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				n := p.Nodes[id]
				if r.Progress != nil {
					mu.Lock()
					r.Progress.Started(n)
					mu.Unlock()
				}
				finished <- r.runNode(ctx, run, n)
			}
		}()
	}
	record := func(res *tandem.NodeResult) {
		results[res.Node] = res
		done++
		if err := r.Meta.SaveNodeResult(context.WithoutCancel(ctx), run.ID, res); err != nil && storeErr == nil {
			storeErr = err
		}
		if r.Progress != nil {
			mu.Lock()
			r.Progress.Finished(p.Nodes[res.Node], res, done, len(plan))
			mu.Unlock()
		}
	}
	// skip marks every waiting descendant of a failed node as skipped.
	var skip func(id, because string)
	skip = func(id, because string) {
		for _, c := range children[id] {
			if _, seen := results[c]; seen {
				continue
			}
			record(&tandem.NodeResult{Node: c, Kind: p.Nodes[c].Kind, Status: tandem.StatusSkipped,
				Message: "skipped: upstream " + because + " failed"})
			skip(c, because)
		}
	}
	if startErr != nil {
		for _, id := range plan {
			record(&tandem.NodeResult{Node: id, Kind: p.Nodes[id].Kind, Status: tandem.StatusSkipped, Message: "skipped: " + startErr.Error()})
		}
	}
	inFlight := 0
	for done < len(plan) {
		var send chan string
		var next string
		if len(ready) > 0 && ctx.Err() == nil {
			send, next = work, ready[0]
		}
		if send == nil && inFlight == 0 {
			// Cancelled: everything not started is skipped.
			for _, id := range plan {
				if _, ok := results[id]; !ok {
					record(&tandem.NodeResult{Node: id, Kind: p.Nodes[id].Kind, Status: tandem.StatusSkipped, Message: "skipped: run cancelled"})
				}
			}
			break
		}
		select {
		case send <- next:
			ready = ready[1:]
			inFlight++
		case res := <-finished:
			inFlight--
			record(res)
			if blocks(res) {
				skip(res.Node, p.Nodes[res.Node].Name)
			}
			for _, c := range children[res.Node] {
				if _, skipped := results[c]; skipped {
					continue
				}
				if waiting[c]--; waiting[c] == 0 {
					ready = append(ready, c)
				}
			}
		}
	}
	close(work)
	wg.Wait()

	run.Status = tandem.StatusSuccess
	run.Nodes = run.Nodes[:0]
	for _, id := range plan {
		res := results[id]
		run.Nodes = append(run.Nodes, res)
		switch res.Status {
		case tandem.StatusError, tandem.StatusFail, tandem.StatusSkipped:
			run.Status = tandem.StatusError
		}
	}
	if startErr != nil {
		run.Status, run.Reason = tandem.StatusError, startErr.Error()
	} else if err := r.runHooks(context.WithoutCancel(ctx), "on-run-end", p.RunResultsContext(run)); err != nil {
		run.Status, run.Reason = tandem.StatusError, err.Error()
	}
	run.EndedAt = r.Clock()
	if err := r.Meta.UpdateRun(context.WithoutCancel(ctx), run); err != nil && storeErr == nil {
		storeErr = err
	}
	if storeErr != nil {
		return run, fmt.Errorf("record run %s: %w", run.ID, storeErr)
	}
	if ctx.Err() != nil {
		return run, ctx.Err()
	}
	return run, nil
}

// blocks reports whether a result stops the nodes downstream of it.
func blocks(res *tandem.NodeResult) bool {
	return res.Status == tandem.StatusError || res.Status == tandem.StatusFail
}

// edges returns, for each planned node, the planned nodes it waits for: its
// DAG parents, and the tests of its parents, so that a failing
// error-severity test stops what is built on the data it rejected.
func (r *Runner) edges(plan []string) map[string][]string {
	p := r.Project
	in := map[string]bool{}
	for _, id := range plan {
		in[id] = true
	}
	testsOf := map[string][]string{}
	unitOf := map[string][]string{} // a model's unit tests run before it, and a failure stops it (dbt build)
	for _, id := range plan {
		if n := p.Nodes[id]; n.Kind == tandem.KindTest {
			if isUnitTest(n) {
				unitOf[n.Test.Attached] = append(unitOf[n.Test.Attached], id)
				continue
			}
			for _, d := range n.DependsOn {
				testsOf[d] = append(testsOf[d], id)
			}
		}
	}
	out := map[string][]string{}
	for _, id := range plan {
		n := p.Nodes[id]
		seen := map[string]bool{}
		add := func(d string) {
			if in[d] && !seen[d] && d != id {
				seen[d] = true
				out[id] = append(out[id], d)
			}
		}
		var walk func(d string, depth int)
		// Parents outside the plan (not selected) are looked through, so
		// order is kept among selected nodes.
		walk = func(d string, depth int) {
			if in[d] || depth > 64 {
				add(d)
				return
			}
			for _, dd := range p.Nodes[d].DependsOn {
				walk(dd, depth+1)
			}
		}
		for _, d := range n.DependsOn {
			walk(d, 0)
			if n.Kind == tandem.KindTest {
				continue
			}
			for _, t := range testsOf[d] {
				if !r.reaches(id, t) {
					add(t)
				}
			}
		}
		for _, u := range unitOf[id] {
			add(u)
		}
		sort.Strings(out[id])
	}
	return out
}

// isUnitTest reports whether a test node is a dbt unit test.
func isUnitTest(n *tandem.Node) bool { return strings.HasPrefix(n.ID, "unit_test.") }

// reaches reports whether node to depends, directly or not, on from.
func (r *Runner) reaches(from, to string) bool {
	seen := map[string]bool{}
	stack := []string{to}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if cur == from {
			return true
		}
		for _, d := range r.Project.Nodes[cur].DependsOn {
			if !seen[d] {
				seen[d] = true
				stack = append(stack, d)
			}
		}
	}
	return false
}

// runNode runs one node with retries on transient errors.
func (r *Runner) runNode(ctx context.Context, run *tandem.Run, n *tandem.Node) *tandem.NodeResult {
	res := &tandem.NodeResult{Node: n.ID, Kind: n.Kind, StartedAt: r.Clock()}
	start := time.Now()
	backoff := r.Backoff
	attempts := max(r.Attempts, 1)
	for a := 1; ; a++ {
		res.Attempts = a
		res.Status, res.Message = "", ""
		err := r.execute(ctx, run, n, res)
		if err == nil {
			if res.Status == "" {
				res.Status = tandem.StatusSuccess
			}
			break
		}
		res.Status, res.Message = tandem.StatusError, r.located(n, err)
		if a >= attempts || !transient(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	res.Duration = time.Since(start)
	return res
}

func transient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// located prefixes an error with the file and line where the user fixes it,
// unless it already names one. An error of the database in the model's
// compiled SQL ("LINE 3: ...") is traced back to the line of the .sql file
// (or of the ephemeral model) it came from.
func (r *Runner) located(n *tandem.Node, err error) string {
	var te *tandem.Error
	if errors.As(err, &te) && te.File != "" {
		return te.Error()
	}
	msg := strings.TrimSpace(err.Error())
	file, line := n.Path, n.Line
	var ce *compiledError
	if errors.As(err, &ce) {
		if m := reSQLLine.FindStringSubmatchIndex(msg); m != nil {
			l, _ := strconv.Atoi(msg[m[2]:m[3]])
			if f, sl := r.Project.SourceLine(n, ce.sql, l-1); sl > 0 {
				file, line = f, sl
				msg = withoutStatementLine(msg, m)
			}
		}
	}
	if line > 1 || (line == 1 && file != n.Path) {
		return fmt.Sprintf("%s:%d: %s", file, line, msg)
	}
	return file + ": " + msg
}

// compiledError is an error of a statement made of one line of Tandem's
// (create table ... as, select count(*) from (, ...) and the compiled SQL.
type compiledError struct {
	error
	sql string
}

func (e *compiledError) Unwrap() error { return e.error }

func inCompiled(err error, sql string) error {
	if err == nil {
		return nil
	}
	return &compiledError{err, sql}
}

// reSQLLine finds DuckDB's pointer into the statement: "LINE 3: <text>"
// followed by a line with a caret under the error.
var reSQLLine = regexp.MustCompile(`(?m)^LINE (\d+): `)

// withoutStatementLine drops DuckDB's "LINE n: " (a line of the statement,
// not of the user's file) and moves the caret line under it to match.
func withoutStatementLine(msg string, m []int) string {
	width := m[1] - m[0]
	rest := msg[m[1]:]
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
		caret := rest[nl+1:]
		if len(caret) >= width && strings.TrimSpace(caret[:width]) == "" {
			rest = rest[:nl+1] + caret[width:]
		}
	}
	return msg[:m[0]] + rest
}

// execute runs a node: its pre-hooks, the node, then its post-hooks.
func (r *Runner) execute(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	if n.Kind == tandem.KindTest {
		return r.test(ctx, n, res)
	}
	if err := r.hooks(ctx, n, "pre-hook"); err != nil {
		return err
	}
	if err := r.materialize(ctx, run, n, res); err != nil {
		return err
	}
	return r.hooks(ctx, n, "post-hook")
}

// hooks runs a node's pre-hooks or post-hooks, each rendered right before it
// runs (a hook may read what the one before it did).
func (r *Runner) hooks(ctx context.Context, n *tandem.Node, which string) error {
	sqls, err := r.Project.Hooks(n.ID, which, project.CompileContext{Vars: r.Vars, Query: r.introspect})
	if err != nil {
		return err
	}
	return r.execHooks(ctx, func(i int) string { return fmt.Sprintf("%s %d of %s", which, i, n.Name) }, sqls)
}

// execHooks runs rendered hooks in order; name(i) names hook i (from 1)
// in an error.
func (r *Runner) execHooks(ctx context.Context, name func(int) string, sqls []string) error {
	for i, sql := range sqls {
		if _, err := r.Warehouse.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w\n%s", name(i+1), err, sql)
		}
	}
	return nil
}

// runHooks runs the project's on-run-start or on-run-end hooks.
func (r *Runner) runHooks(ctx context.Context, which string, extra map[string]any) error {
	sqls, err := r.Project.RunHooks(which, extra, project.CompileContext{Vars: r.Vars, Query: r.introspect})
	if err != nil {
		return err
	}
	return r.execHooks(ctx, func(i int) string { return fmt.Sprintf("%s hook %d", which, i) }, sqls)
}

func (r *Runner) materialize(ctx context.Context, run *tandem.Run, n *tandem.Node, res *tandem.NodeResult) error {
	switch n.Kind {
	case tandem.KindSeed:
		return r.seed(ctx, run, n, res)
	case tandem.KindSnapshot:
		return r.snapshot(ctx, run, n, res)
	}
	switch n.Materialized {
	case tandem.View:
		return r.view(ctx, n, res)
	case tandem.Table:
		return r.table(ctx, run, n, res)
	case tandem.Incremental:
		return r.incremental(ctx, run, n, res)
	}
	return fmt.Errorf("materialization %q cannot run", n.Materialized)
}

// SettleOrphans marks failed, with the reason, every run still "running"
// whose process on this host is gone (a CLI build killed by a full disk or
// a SIGPIPE), so that no run stays "running" until the next tandem serve.
// Every command that opens the project calls it.
func SettleOrphans(ctx context.Context, store tandem.RunStore, now time.Time) ([]*tandem.Run, error) {
	runs, err := store.FindRuns(ctx, tandem.RunFilter{Limit: 1000, Statuses: []tandem.Status{tandem.StatusRunning}})
	if err != nil {
		return nil, err
	}
	var settled []*tandem.Run
	for _, r := range runs {
		if r.Process == "" || !tandem.ProcessGone(r.Process) {
			continue
		}
		r.Status, r.EndedAt, r.Reason = tandem.StatusError, now, tandem.OrphanReason(r)
		if err := store.UpdateRun(ctx, r); err != nil {
			return settled, err
		}
		settled = append(settled, r)
	}
	return settled, nil
}
