package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tandem-data/tandem"
)

// Store is what the scheduler keeps across restarts.
type Store interface {
	tandem.JobStore
	CreateRun(ctx context.Context, r *tandem.Run) error
	UpdateRun(ctx context.Context, r *tandem.Run) error
	FindRuns(ctx context.Context, f tandem.RunFilter) ([]*tandem.Run, error)
}

// Executor carries out one run of a job; it returns when the run ended.
// The run arrives with status queued and already stored.
type Executor interface {
	Execute(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error)
}

// DataMarker fingerprints a job's upstream data (for on_new_data jobs); a
// changed fingerprint triggers a run.
type DataMarker func(ctx context.Context, job *tandem.Job) (string, error)

// Scheduler turns jobs and the clock into runs, one run at a time: every
// run writes the same warehouse file, and DuckDB has one writer.
type Scheduler struct {
	Store    Store
	Executor Executor
	Clock    tandem.Clock
	Logger   *slog.Logger
	// DataMarker, when set, is asked about on_new_data jobs every DataPoll.
	DataMarker DataMarker
	DataPoll   time.Duration
	// Grace is how late a scheduled time may be run under catchup: none.
	Grace time.Duration
	// OnFinish, when set, is called after every run (alerts, metrics).
	OnFinish func(job *tandem.Job, run *tandem.Run)
	// OnQueue, when set, is told the queue depth when it changes.
	OnQueue func(depth int)

	triggerMu sync.Mutex // one Trigger decides at a time
	mu        sync.Mutex
	jobs      map[string]*entry
	pending   []*work
	wake      chan struct{}
	active    *work
	newID     func(time.Time) string
}

type entry struct {
	job       *tandem.Job
	cron      *Cron
	last      time.Time // latest scheduled time claimed (cache of the store)
	busy      int       // runs queued or running
	dataCheck time.Time // when upstream data was last looked at
}

type work struct {
	job *tandem.Job
	run *tandem.Run
}

// New returns a scheduler; SetJobs gives it its jobs.
func New(store Store, exec Executor, newID func(time.Time) string) *Scheduler {
	return &Scheduler{
		Store: store, Executor: exec, Clock: time.Now, Logger: slog.Default(), Grace: time.Minute, DataPoll: 30 * time.Second,
		jobs: map[string]*entry{}, wake: make(chan struct{}, 1), newID: newID,
	}
}

// SetJobs replaces the set of jobs (at start and on reload). Runs of jobs
// that remain are kept; a new job starts from now, without catching up.
func (s *Scheduler) SetJobs(ctx context.Context, jobs []*tandem.Job) error {
	next := map[string]*entry{}
	now := s.Clock()
	for _, j := range jobs {
		c, err := ParseCron(j.Cron, j.Timezone)
		if err != nil {
			return fmt.Errorf("job %s (%s): %w", j.Name, j.Origin, err)
		}
		last, err := s.Store.RegisterJob(ctx, j.Name, now)
		if err != nil {
			return err
		}
		next[j.Name] = &entry{job: j, cron: c, last: last}
	}
	s.mu.Lock()
	for name, e := range next {
		if old, ok := s.jobs[name]; ok {
			e.busy, e.dataCheck = old.busy, old.dataCheck
		}
	}
	s.jobs = next
	s.mu.Unlock()
	return nil
}

// Jobs returns the jobs with their next scheduled time.
func (s *Scheduler) Jobs() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, e := range s.jobs {
		out = append(out, JobStatus{Job: e.job, LastScheduled: e.last, Next: e.cron.Next(maxTime(e.last, s.Clock())), Busy: e.busy > 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Job.Name < out[j].Job.Name })
	return out
}

// JobStatus is a job as the scheduler sees it.
type JobStatus struct {
	Job           *tandem.Job `json:"job"`
	LastScheduled time.Time   `json:"last_scheduled,omitzero"`
	Next          time.Time   `json:"next"`
	Busy          bool        `json:"busy"`
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Recover settles what a previous process left: a run that was running
// was interrupted and is marked failed; a run that was queued never
// started and is queued again. Call it once, before Run.
func (s *Scheduler) Recover(ctx context.Context) (interrupted []*tandem.Run, err error) {
	runs, err := s.Store.FindRuns(ctx, tandem.RunFilter{Limit: 100000, Statuses: []tandem.Status{tandem.StatusRunning, tandem.StatusQueued}})
	if err != nil {
		return nil, err
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].StartedAt.Before(runs[j].StartedAt) })
	for _, r := range runs {
		if r.Status == tandem.StatusRunning {
			r.Status, r.EndedAt = tandem.StatusError, s.Clock()
			r.Reason = tandem.OrphanReason(r)
			if err := s.Store.UpdateRun(ctx, r); err != nil {
				return nil, err
			}
			s.Logger.Warn("run interrupted; marked failed", "run_id", r.ID, "job", r.Job, "reason", r.Reason)
			interrupted = append(interrupted, r)
			continue
		}
		s.mu.Lock()
		e, ok := s.jobs[r.Job]
		s.mu.Unlock()
		job := &tandem.Job{Name: r.Job, Command: r.Command}
		if ok {
			job = e.job
		} else if r.Job != "" {
			r.Status, r.EndedAt = tandem.StatusSkipped, s.Clock()
			if err := s.Store.UpdateRun(ctx, r); err != nil {
				return nil, err
			}
			continue
		}
		s.Logger.Info("resuming a run queued before the stop", "run_id", r.ID, "job", r.Job)
		s.push(&work{job: job, run: r})
	}
	return interrupted, nil
}

// Tick claims every run that is due at now. It is the whole scheduling
// decision, separate from waiting, so tests drive it with any clock.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	entries := make([]*entry, 0, len(s.jobs))
	for _, e := range s.jobs {
		entries = append(entries, e)
	}
	s.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].job.Name < entries[j].job.Name })
	for _, e := range entries {
		if err := s.tickJob(ctx, e, now); err != nil {
			return fmt.Errorf("job %s: %w", e.job.Name, err)
		}
	}
	return nil
}

func (s *Scheduler) tickJob(ctx context.Context, e *entry, now time.Time) error {
	// Overlap is about a run already going before this tick; the times a
	// tick catches up on queue behind one another.
	s.mu.Lock()
	busy := e.busy > 0
	s.mu.Unlock()
	var due []time.Time
	for t := e.cron.Next(e.last); !t.IsZero() && !t.After(now); t = e.cron.Next(t) {
		due = append(due, t)
		if e.job.Catchup != "all" && len(due) > 1 {
			due = due[1:] // only the latest matters
		}
	}
	if len(due) > 0 {
		switch e.job.Catchup {
		case "none":
			latest := due[len(due)-1]
			if now.Sub(latest) > s.Grace {
				if err := s.Store.SkipTo(ctx, e.job.Name, latest); err != nil {
					return err
				}
				s.Logger.Info("missed scheduled times not run (catchup: none)", "job", e.job.Name, "until", latest)
				s.mu.Lock()
				e.last = latest
				s.mu.Unlock()
				due = nil
			} else {
				due = due[len(due)-1:]
			}
		case "all":
		default: // latest
			due = due[len(due)-1:]
		}
	}
	trigger := "schedule"
	if len(due) > 0 && now.Sub(due[len(due)-1]) > s.Grace {
		trigger = "catchup"
	}
	for _, t := range due {
		if err := s.claim(ctx, e, t, trigger, busy); err != nil {
			return err
		}
	}
	if e.job.OnNewData && s.DataMarker != nil && now.Sub(e.dataCheck) >= s.DataPoll {
		e.dataCheck = now
		return s.checkNewData(ctx, e, now, busy)
	}
	return nil
}

func (s *Scheduler) checkNewData(ctx context.Context, e *entry, now time.Time, busy bool) error {
	mark, err := s.DataMarker(ctx, e.job)
	if err != nil {
		s.Logger.Warn("cannot read upstream data of job", "job", e.job.Name, "err", err)
		return nil
	}
	old, err := s.Store.DataMark(ctx, e.job.Name)
	if err != nil {
		return err
	}
	if mark == old {
		return nil
	}
	if err := s.Store.SetDataMark(ctx, e.job.Name, mark); err != nil {
		return err
	}
	if old == "" {
		return nil // first look: nothing is new yet
	}
	s.Logger.Info("upstream data changed; triggering job", "job", e.job.Name)
	return s.claim(ctx, e, now, "new-data", busy)
}

// claim records a run for scheduled time t and queues it, or records it as
// skipped when the job is still busy and overlaps are skipped.
func (s *Scheduler) claim(ctx context.Context, e *entry, t time.Time, trigger string, busy bool) error {
	run := &tandem.Run{ID: s.newID(s.Clock()), Command: e.job.Command, Args: selectorArgs(e.job), StartedBy: "scheduler",
		Job: e.job.Name, ScheduledFor: t, Trigger: trigger, StartedAt: s.Clock()}
	ok, err := s.Store.ClaimRun(ctx, run)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if t.After(e.last) {
		e.last = t
	}
	s.mu.Unlock()
	if !ok {
		return nil // claimed before (another tick, or before a restart)
	}
	if busy && e.job.Overlap != "queue" {
		run.Status, run.EndedAt = tandem.StatusSkipped, s.Clock()
		s.Logger.Info("skipped: the previous run of the job is still going (overlap: skip)", "job", e.job.Name, "run_id", run.ID, "scheduled_for", t)
		return s.Store.UpdateRun(ctx, run)
	}
	s.push(&work{job: e.job, run: run})
	return nil
}

func selectorArgs(j *tandem.Job) string {
	args := ""
	for _, s := range j.Select {
		args += " --select " + s
	}
	for _, s := range j.Exclude {
		args += " --exclude " + s
	}
	if j.FullRefresh {
		args += " --full-refresh"
	}
	if len(args) > 0 {
		return args[1:]
	}
	return ""
}

// Enqueue queues a run that was not scheduled (an API trigger): it is
// stored as queued, then run in turn.
func (s *Scheduler) Enqueue(ctx context.Context, job *tandem.Job, run *tandem.Run) error {
	run.Status, run.StartedAt = tandem.StatusQueued, s.Clock()
	if err := s.Store.CreateRun(ctx, run); err != nil {
		return err
	}
	s.push(&work{job: job, run: run})
	return nil
}

// Trigger runs job now because someone asked (the API, the UI), under the
// job's overlap policy, as scheduled runs are: while a run of the job waits
// in the queue, a trigger is that run (identical triggers coalesce, so the
// queue holds at most one per job); while one runs, overlap: skip refuses
// with ECONFLICT naming it, and overlap: queue queues one behind it.
// It returns the run that will carry the trigger out.
func (s *Scheduler) Trigger(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error) {
	s.triggerMu.Lock()
	defer s.triggerMu.Unlock()
	s.mu.Lock()
	var queued *tandem.Run
	for _, w := range s.pending {
		if w.job.Name == job.Name {
			queued = w.run
			break
		}
	}
	var running *tandem.Run
	if s.active != nil && s.active.job.Name == job.Name {
		running = s.active.run
	}
	s.mu.Unlock()
	switch {
	case queued != nil:
		s.Logger.Info("trigger coalesced with the queued run of the job", "job", job.Name, "run_id", queued.ID)
		return queued, nil
	case running != nil && job.Overlap != "queue":
		return nil, tandem.Errorf(tandem.ECONFLICT, "job %s is running (run %s) and its overlap policy is skip; wait for it, or set overlap: queue", job.Name, running.ID)
	}
	return run, s.Enqueue(ctx, job, run)
}

func (s *Scheduler) push(w *work) {
	s.mu.Lock()
	s.pending = append(s.pending, w)
	if e, ok := s.jobs[w.job.Name]; ok && w.job.Name != "" {
		e.busy++
	}
	depth := len(s.pending)
	s.mu.Unlock()
	if s.OnQueue != nil {
		s.OnQueue(depth)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// QueueDepth is the number of runs waiting to start.
func (s *Scheduler) QueueDepth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Work runs queued runs one at a time until ctx is done; the run in
// progress is finished first (drained), queued ones stay queued in the
// store and resume at the next start.
func (s *Scheduler) Work(ctx context.Context) {
	for {
		if s.runOne(ctx) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
	}
}

// Drain runs every queued run now, in order (simulations and tests).
func (s *Scheduler) Drain(ctx context.Context) int {
	n := 0
	for s.runOne(ctx) {
		n++
	}
	return n
}

// runOne runs the next queued run, if any and ctx is not done.
func (s *Scheduler) runOne(ctx context.Context) bool {
	s.mu.Lock()
	if len(s.pending) == 0 || ctx.Err() != nil {
		s.mu.Unlock()
		return false
	}
	w := s.pending[0]
	s.pending = s.pending[1:]
	s.active = w
	depth := len(s.pending)
	s.mu.Unlock()
	if s.OnQueue != nil {
		s.OnQueue(depth)
	}
	// The run gets a context that a stop does not cancel: draining means
	// letting it finish.
	run, err := s.Executor.Execute(context.WithoutCancel(ctx), w.job, w.run)
	if err != nil {
		s.Logger.Error("run could not be carried out", "run_id", w.run.ID, "job", w.job.Name, "err", err)
		if run == nil {
			run = w.run
			run.Status, run.EndedAt = tandem.StatusError, s.Clock()
			_ = s.Store.UpdateRun(context.WithoutCancel(ctx), run)
		}
	}
	s.mu.Lock()
	if e, ok := s.jobs[w.job.Name]; ok && e.busy > 0 {
		e.busy--
	}
	s.active = nil
	s.mu.Unlock()
	if s.OnFinish != nil {
		s.OnFinish(w.job, run)
	}
	return true
}

// Run ticks at every scheduled time (and every poll interval, for
// on_new_data jobs) until ctx is done. Work must run beside it.
func (s *Scheduler) Run(ctx context.Context, poll time.Duration) error {
	for {
		now := s.Clock()
		if err := s.Tick(ctx, now); err != nil {
			s.Logger.Error("scheduling failed; retrying at the next tick", "err", err)
		}
		wait := poll
		for _, js := range s.Jobs() {
			if d := js.Next.Sub(s.Clock()); d < wait {
				wait = max(d, 0)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
