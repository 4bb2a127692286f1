package schedule

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// webhook is a test receiver of alerts.
type webhook struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var m map[string]any
	json.NewDecoder(r.Body).Decode(&m)
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
}

func (w *webhook) texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		out = append(out, m["text"].(string))
	}
	return out
}

// flakyJob fails its first failures runs, with a failing test, then passes.
type flakyJob struct {
	*countingExecutor
	failures int
}

func (x *flakyJob) Execute(ctx context.Context, job *tandem.Job, run *tandem.Run) (*tandem.Run, error) {
	run, err := x.countingExecutor.Execute(ctx, job, run)
	x.mu.Lock()
	defer x.mu.Unlock()
	test := &tandem.NodeResult{Node: "test.shop.unique_orders_id", Kind: tandem.KindTest, Status: tandem.StatusSuccess}
	if x.failures > 0 {
		x.failures--
		run.Status = tandem.StatusError
		test.Status, test.Message = tandem.StatusFail, "3 failing rows"
	}
	run.Nodes = []*tandem.NodeResult{test}
	return run, err
}

func alertingScheduler(t *testing.T, url string, failures int) (*Scheduler, *Alerter, *fakeClock, *flakyJob) {
	clock := &fakeClock{now: utc("2011-01-01 10:00")}
	s, exec, store := newScheduler(t, filepath.Join(t.TempDir(), "m.db"), clock)
	job := &flakyJob{countingExecutor: exec, failures: failures}
	s.Executor = job
	a := NewAlerter(store, func(owner string) string { return url })
	a.Clock, a.Attempts, a.Backoff = clock.Now, 2, time.Millisecond
	a.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Run(ctx)
	s.OnFinish = func(j *tandem.Job, run *tandem.Run) {
		a.RunAlerts(ctx, j, run, func(string) string { return "data-team" }, "")
	}
	if err := s.SetJobs(ctx, []*tandem.Job{{Name: "hourly", Command: "build", Cron: "@hourly", Owner: "ana"}}); err != nil {
		t.Fatal(err)
	}
	return s, a, clock, job
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestOneAlertPerIncidentAndOneRecovery(t *testing.T) {
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s, a, clock, _ := alertingScheduler(t, srv.URL, 3)
	advance(t, s, clock, utc("2011-01-01 15:30"), 10*time.Minute) // 5 runs: 3 fail, 2 pass
	waitFor(t, "4 deliveries", func() bool { return len(a.Recent()) == 4 })
	got := hook.texts()
	if len(got) != 4 {
		t.Fatalf("webhook got %d messages: %q", len(got), got)
	}
	// One alert and one recovery for the job; the same for its test.
	var jobAlerts, jobRecoveries, testAlerts, testRecoveries int
	for _, m := range got {
		switch {
		case strings.HasPrefix(m, ":red_circle: job hourly failed"):
			jobAlerts++
		case strings.HasPrefix(m, ":large_green_circle: resolved after 3h0m0s: job hourly succeeded"):
			jobRecoveries++
		case strings.HasPrefix(m, ":red_circle: test unique_orders_id failed: 3 failing rows"):
			testAlerts++
		case strings.HasPrefix(m, ":large_green_circle: resolved after 3h0m0s: test unique_orders_id passes"):
			testRecoveries++
		}
	}
	if jobAlerts != 1 || jobRecoveries != 1 || testAlerts != 1 || testRecoveries != 1 {
		t.Errorf("alerts %d/%d, recoveries %d/%d (job/test): %q", jobAlerts, testAlerts, jobRecoveries, testRecoveries, got)
	}
	for _, m := range hook.msgs {
		meta := m["tandem"].(map[string]any)
		want := map[string]string{"job:hourly": "ana", "test:test.shop.unique_orders_id": "data-team"}[meta["key"].(string)]
		if meta["owner"] != want {
			t.Errorf("%v routed to %v, want %s", meta["key"], meta["owner"], want)
		}
	}
}

func TestDeadWebhookDoesNotStopScheduling(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	s, a, clock, job := alertingScheduler(t, url, 100)
	advance(t, s, clock, utc("2011-01-01 15:30"), 10*time.Minute)
	if n := len(job.runs["hourly"]); n != 5 {
		t.Errorf("%d runs with a dead webhook, want 5", n)
	}
	waitFor(t, "2 failed deliveries", func() bool { return len(a.Recent()) == 2 })
	for _, d := range a.Recent() {
		if d.Outcome != "failed" || d.Attempts != 2 || !strings.Contains(d.Error, "connection refused") {
			t.Errorf("delivery %+v", d)
		}
	}
}
