package schedule

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/sqlite"
)

// fakeClock is the injected time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// countingExecutor records the runs it is given, and marks them done.
type countingExecutor struct {
	store Store
	clock *fakeClock
	mu    sync.Mutex
	runs  map[string][]*tandem.Run // by job
	fail  bool
}

func (x *countingExecutor) Execute(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error) {
	x.mu.Lock()
	if x.runs == nil {
		x.runs = map[string][]*tandem.Run{}
	}
	x.runs[job.Name] = append(x.runs[job.Name], run)
	x.mu.Unlock()
	run.Status, run.EndedAt = tandem.StatusSuccess, x.clock.Now()
	if x.fail {
		run.Status = tandem.StatusError
	}
	return run, x.store.UpdateRun(ctx, run)
}

func newScheduler(t testing.TB, path string, clock *fakeClock) (*Scheduler, *countingExecutor, *sqlite.MetaStore) {
	t.Helper()
	store, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	exec := &countingExecutor{store: store, clock: clock}
	var n int
	var mu sync.Mutex
	s := New(store, exec, func(time.Time) string { mu.Lock(); defer mu.Unlock(); n++; return fmt.Sprintf("run-%d-%p", n, store) })
	s.Clock = clock.Now
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return s, exec, store
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// advance ticks every step from the clock's time to end, running what is due.
func advance(t testing.TB, s *Scheduler, clock *fakeClock, end time.Time, step time.Duration) {
	t.Helper()
	ctx := context.Background()
	for now := clock.Now(); !now.After(end); now = now.Add(step) {
		clock.Set(now)
		if err := s.Tick(ctx, now); err != nil {
			t.Fatal(err)
		}
		s.Drain(ctx)
	}
}

func scheduledTimes(runs []*tandem.Run, loc *time.Location) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ScheduledFor.In(loc).Format("01-02 15:04 MST")+" "+r.Trigger)
	}
	return out
}

func TestCatchupPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   []string // runs after 10:00-12:10 up, down until 16:20, up until 17:05
	}{
		{"latest", []string{"01-01 11:00 UTC schedule", "01-01 12:00 UTC schedule", "01-01 16:00 UTC catchup", "01-01 17:00 UTC schedule"}},
		{"all", []string{"01-01 11:00 UTC schedule", "01-01 12:00 UTC schedule", "01-01 13:00 UTC catchup", "01-01 14:00 UTC catchup", "01-01 15:00 UTC catchup", "01-01 16:00 UTC catchup", "01-01 17:00 UTC schedule"}},
		{"none", []string{"01-01 11:00 UTC schedule", "01-01 12:00 UTC schedule", "01-01 17:00 UTC schedule"}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			clock := &fakeClock{now: utc("2011-01-01 10:00")}
			path := filepath.Join(t.TempDir(), "m.db")
			s, exec, _ := newScheduler(t, path, clock)
			job := &tandem.Job{Name: "hourly", Command: "build", Cron: "@hourly", Catchup: tc.policy}
			if err := s.SetJobs(context.Background(), []*tandem.Job{job}); err != nil {
				t.Fatal(err)
			}
			advance(t, s, clock, utc("2011-01-01 12:10"), 5*time.Minute)
			// The process is down until 16:20; a new one starts on the same store.
			clock.Set(utc("2011-01-01 16:20"))
			s2, exec2, _ := newScheduler(t, path, clock)
			if err := s2.SetJobs(context.Background(), []*tandem.Job{job}); err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			advance(t, s2, clock, utc("2011-01-01 17:05"), 5*time.Minute)
			got := append(scheduledTimes(exec.runs["hourly"], time.UTC), scheduledTimes(exec2.runs["hourly"], time.UTC)...)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("runs:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestTimeZonesAcrossDST(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	clock := &fakeClock{now: utc("2011-03-25 12:00")}
	s, exec, _ := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
	jobs := []*tandem.Job{
		{Name: "nightly", Command: "build", Cron: "30 1 * * *", Timezone: "Europe/London"},
		{Name: "morning", Command: "build", Cron: "0 9 * * *", Timezone: "Europe/London"},
	}
	if err := s.SetJobs(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	advance(t, s, clock, utc("2011-03-29 12:00"), 10*time.Minute)
	// 01:30 does not exist on 2011-03-27 in London; 09:00 moves from 09:00 UTC to 08:00 UTC.
	if got := fmt.Sprint(scheduledTimes(exec.runs["nightly"], london)); got != "[03-26 01:30 GMT schedule 03-28 01:30 BST schedule 03-29 01:30 BST schedule]" {
		t.Errorf("nightly across spring forward: %s", got)
	}
	var morningUTC []string
	for _, r := range exec.runs["morning"] {
		morningUTC = append(morningUTC, r.ScheduledFor.UTC().Format("01-02 15:04"))
	}
	if got := fmt.Sprint(morningUTC); got != "[03-26 09:00 03-27 08:00 03-28 08:00 03-29 08:00]" {
		t.Errorf("morning in UTC: %s", got)
	}
	// Autumn: 01:30 happens twice on 2011-10-30 and runs once.
	clock.Set(utc("2011-10-28 12:00"))
	exec.runs = nil
	s2, exec2, _ := newScheduler(t, filepath.Join(t.TempDir(), "m2.db"), clock)
	if err := s2.SetJobs(context.Background(), jobs[:1]); err != nil {
		t.Fatal(err)
	}
	advance(t, s2, clock, utc("2011-10-31 12:00"), 10*time.Minute)
	if got := fmt.Sprint(scheduledTimes(exec2.runs["nightly"], london)); got != "[10-29 01:30 BST schedule 10-30 01:30 BST schedule 10-31 01:30 GMT schedule]" {
		t.Errorf("nightly across fall back: %s", got)
	}
}

// 500 jobs on a one-minute schedule for an hour of simulated time run
// exactly 500 x 60 times, ticked at an uneven pace.
func TestFiveHundredJobsForAnHour(t *testing.T) {
	start := utc("2011-06-01 00:00")
	clock := &fakeClock{now: start}
	s, exec, _ := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
	var jobs []*tandem.Job
	for i := 0; i < 500; i++ {
		jobs = append(jobs, &tandem.Job{Name: fmt.Sprintf("job%03d", i), Command: "run", Cron: "* * * * *", Catchup: "all"})
	}
	if err := s.SetJobs(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []time.Duration{7 * time.Second, 61 * time.Second, 13 * time.Second, 150 * time.Second, 1 * time.Second}
	for i, now := 0, start; !now.After(start.Add(time.Hour)); i++ {
		clock.Set(now)
		if err := s.Tick(ctx, now); err != nil {
			t.Fatal(err)
		}
		s.Drain(ctx)
		now = now.Add(steps[i%len(steps)])
	}
	clock.Set(start.Add(time.Hour))
	s.Tick(ctx, start.Add(time.Hour))
	s.Drain(ctx)
	total := 0
	for _, j := range jobs {
		runs := exec.runs[j.Name]
		total += len(runs)
		if len(runs) != 60 {
			t.Fatalf("%s ran %d times, want 60", j.Name, len(runs))
		}
		for k, r := range runs {
			if want := start.Add(time.Duration(k+1) * time.Minute); !r.ScheduledFor.Equal(want) {
				t.Fatalf("%s run %d scheduled for %v, want %v", j.Name, k, r.ScheduledFor, want)
			}
		}
	}
	if total != 30000 {
		t.Errorf("%d runs, want 30000", total)
	}
}

// A stop between claiming and running loses nothing; a restart runs
// nothing twice; a run that was going is marked failed.
func TestRestartNeitherLosesNorDoublesRuns(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: utc("2011-01-01 10:00")}
	path := filepath.Join(t.TempDir(), "m.db")
	job := &tandem.Job{Name: "hourly", Command: "build", Cron: "@hourly"}
	s, exec, store := newScheduler(t, path, clock)
	s.SetJobs(ctx, []*tandem.Job{job})
	clock.Set(utc("2011-01-01 11:00"))
	if err := s.Tick(ctx, clock.Now()); err != nil { // claims 11:00 ...
		t.Fatal(err)
	}
	// ... and a run that was going when the process died.
	store.CreateRun(ctx, &tandem.Run{ID: "going", Command: "build", Status: tandem.StatusRunning, StartedAt: utc("2011-01-01 10:30")})
	// The process dies before running anything. A new one starts.
	clock.Set(utc("2011-01-01 11:00").Add(30 * time.Second))
	s2, exec2, store2 := newScheduler(t, path, clock)
	s2.SetJobs(ctx, []*tandem.Job{job})
	interrupted, err := s2.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(interrupted) != 1 || interrupted[0].ID != "going" {
		t.Errorf("interrupted = %v", interrupted)
	}
	advance(t, s2, clock, utc("2011-01-01 12:30"), time.Minute)
	if len(exec.runs["hourly"]) != 0 {
		t.Error("the first process ran something")
	}
	if got := fmt.Sprint(scheduledTimes(exec2.runs["hourly"], time.UTC)); got != "[01-01 11:00 UTC schedule 01-01 12:00 UTC schedule]" {
		t.Errorf("runs after restart: %s", got)
	}
	r, _ := store2.FindRun(ctx, "going")
	if r.Status != tandem.StatusError || r.EndedAt.IsZero() {
		t.Errorf("interrupted run: %s", r.Status)
	}
}

func TestOverlapSkipOrQueue(t *testing.T) {
	for _, policy := range []string{"skip", "queue"} {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{now: utc("2011-01-01 10:00")}
			s, exec, store := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
			s.SetJobs(ctx, []*tandem.Job{{Name: "minutely", Command: "run", Cron: "* * * * *", Overlap: policy}})
			// Three minutes pass while nothing drains the queue (a long run).
			for _, m := range []string{"10:01", "10:02", "10:03"} {
				clock.Set(utc("2011-01-01 " + m))
				s.Tick(ctx, clock.Now())
			}
			s.Drain(ctx)
			skipped, _ := store.FindRuns(ctx, tandem.RunFilter{Statuses: []tandem.Status{tandem.StatusSkipped}})
			want := map[string][2]int{"skip": {1, 2}, "queue": {3, 0}}[policy]
			if len(exec.runs["minutely"]) != want[0] || len(skipped) != want[1] {
				t.Errorf("ran %d, skipped %d; want %v", len(exec.runs["minutely"]), len(skipped), want)
			}
		})
	}
}

func TestNewDataTriggersAJob(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: utc("2011-01-01 10:00")}
	s, exec, _ := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
	var mu sync.Mutex
	mark := "orders=1"
	looks := 0
	s.DataMarker = func(ctx context.Context, j *tandem.Job) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		looks++
		return mark, nil
	}
	s.DataPoll = time.Minute
	s.SetJobs(ctx, []*tandem.Job{{Name: "marts", Command: "build", Cron: "0 0 1 1 *", OnNewData: true}})
	advance(t, s, clock, utc("2011-01-01 10:05"), 10*time.Second)
	if len(exec.runs["marts"]) != 0 {
		t.Fatal("ran without new data")
	}
	if looks != 6 { // once a minute, not every tick
		t.Errorf("upstream looked at %d times in 5 minutes of 10-second ticks, want 6", looks)
	}
	mu.Lock()
	mark = "orders=2"
	mu.Unlock()
	advance(t, s, clock, utc("2011-01-01 10:10"), 10*time.Second)
	runs := exec.runs["marts"]
	if len(runs) != 1 || runs[0].Trigger != "new-data" {
		t.Fatalf("after new data: %v", scheduledTimes(runs, time.UTC))
	}
	advance(t, s, clock, utc("2011-01-01 10:20"), 10*time.Second)
	if len(exec.runs["marts"]) != 1 {
		t.Errorf("the same data triggered again")
	}
}

// blockingExecutor holds each run until released.
type blockingExecutor struct {
	countingExecutor
	started chan string
	release chan struct{}
}

func (x *blockingExecutor) Execute(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error) {
	x.started <- run.ID
	<-x.release
	return x.countingExecutor.Execute(ctx, job, run)
}

// TestTriggersFollowTheOverlapPolicy: 30 concurrent manual triggers of one
// job used to run it 30 times in a row. Now identical queued triggers
// coalesce, and a trigger while the job runs follows its overlap policy.
func TestTriggersFollowTheOverlapPolicy(t *testing.T) {
	for _, policy := range []string{"skip", "queue"} {
		t.Run(policy, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clock := &fakeClock{now: utc("2011-01-01 10:00")}
			s, _, store := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
			x := &blockingExecutor{countingExecutor: countingExecutor{store: store, clock: clock}, started: make(chan string, 100), release: make(chan struct{})}
			s.Executor = x
			job := &tandem.Job{Name: "hourly", Command: "run", Cron: "0 * * * *", Overlap: policy}
			s.SetJobs(ctx, []*tandem.Job{job})
			round := 0
			trigger := func(n int) (ids map[string]int, conflicts int) {
				round++
				ids = map[string]int{}
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						run, err := s.Trigger(ctx, job, &tandem.Run{ID: fmt.Sprintf("t-%d-%d", round, i), Job: job.Name, Command: "run"})
						mu.Lock()
						defer mu.Unlock()
						if tandem.ErrorCode(err) == tandem.ECONFLICT {
							conflicts++
						} else if err != nil {
							t.Error(err)
						} else {
							ids[run.ID]++
						}
					}(i)
				}
				wg.Wait()
				return ids, conflicts
			}
			// Idle: 30 triggers are one run.
			ids, _ := trigger(30)
			if len(ids) != 1 {
				t.Fatalf("30 triggers of an idle job made %d runs", len(ids))
			}
			go s.Work(ctx)
			<-x.started // the run is going
			ids, conflicts := trigger(30)
			switch policy {
			case "skip":
				if len(ids) != 0 || conflicts != 30 {
					t.Errorf("while running (skip): %d runs queued, %d refused", len(ids), conflicts)
				}
			case "queue":
				if len(ids) != 1 || conflicts != 0 {
					t.Errorf("while running (queue): %d runs queued, %d refused; want one queued behind", len(ids), conflicts)
				}
			}
			close(x.release)
			time.Sleep(100 * time.Millisecond)
			x.mu.Lock()
			ran := len(x.runs["hourly"])
			x.mu.Unlock()
			if want := map[string]int{"skip": 1, "queue": 2}[policy]; ran != want {
				t.Errorf("%d runs carried out, want %d", ran, want)
			}
		})
	}
}
