package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/examples"
)

// server is a tandem serve process started by a test.
type server struct {
	t     *testing.T
	cmd   *exec.Cmd
	url   string
	token string
	log   *strings.Builder
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(t *testing.T, dir, token, clockStart string) *server {
	t.Helper()
	addr := freeAddr(t)
	args := []string{"serve", "--project-dir", dir, "--addr", addr}
	if clockStart != "" { // else the project's clock
		args = append(args, "--clock-start", clockStart)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, url: "http://" + addr, token: token, log: &strings.Builder{}}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.WriteString(sc.Text() + "\n")
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := nethttp.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem serve did not start:\n%s", s.log)
		}
	}
}

func (s *server) call(method, path, body string, out any) int {
	s.t.Helper()
	req, _ := nethttp.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

func (s *server) runs(job string) []*tandem.Run {
	var out struct{ Runs []*tandem.Run }
	s.call("GET", "/api/v1/runs?limit=100&job="+job, "", &out)
	return out.Runs
}

// waitRun waits until job has a run in one of the statuses.
func (s *server) waitRun(job string, timeout time.Duration, statuses ...tandem.Status) *tandem.Run {
	s.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, r := range s.runs(job) {
			for _, st := range statuses {
				if r.Status == st {
					return r
				}
			}
		}
	}
	s.t.Fatalf("no %s run of %s within %s; runs: %+v\nlog:\n%s", statuses, job, timeout, s.runs(job), s.log)
	return nil
}

func shopProject(t *testing.T) (dir, token string) {
	dir = filepath.Join(t.TempDir(), "shop")
	if err := examples.Write("shop", dir); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "build", "--project-dir", dir)
	out := mustRun(t, "token", "create", "--role", "admin", "--name", "test", "--project-dir", dir)
	return dir, strings.TrimSpace(out)
}

// The shop's hourly job runs at 11:00 London time (10:00 UTC in June).
func TestServeRunsTheHourlyJobOnSchedule(t *testing.T) {
	dir, token := shopProject(t)
	s := startServe(t, dir, token, "2011-06-01T09:59:57Z")
	run := s.waitRun("hourly_marts", 30*time.Second, tandem.StatusSuccess, tandem.StatusError)
	if run.Status != tandem.StatusSuccess || run.Trigger != "schedule" || !run.ScheduledFor.Equal(time.Date(2011, 6, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("hourly run: %+v", run)
	}
	if n := len(s.runs("daily_full")); n != 0 {
		t.Errorf("daily_full ran %d times at 11:00", n)
	}
	var full tandem.Run
	s.call("GET", "/api/v1/runs/"+run.ID+"?include=sql", "", &full)
	models := 0
	for _, n := range full.Nodes {
		switch {
		case n.Kind == tandem.KindModel:
			models++
			if n.CompiledSQL == "" {
				t.Errorf("%s has no compiled SQL recorded", n.Node)
			}
		case n.Kind == tandem.KindSeed || strings.Contains(n.Node, "source_"):
			t.Errorf("tag:marts ran %s", n.Node)
		}
	}
	if models != 8 {
		t.Errorf("hourly run built %d models, want the 8 marts", models)
	}
	// An API-triggered run, followed to its end through the log stream.
	var started tandem.Run
	if code := s.call("POST", "/api/v1/runs", `{"command": "run", "select": ["daily_sales"]}`, &started); code != 202 {
		t.Fatalf("POST /api/v1/runs: %d", code)
	}
	req, _ := nethttp.NewRequest("GET", s.url+"/api/v1/runs/"+started.ID+"/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	logText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(logText), "1/1 success model daily_sales: 219 rows") || !strings.Contains(string(logText), "run finished: success") {
		t.Errorf("followed log:\n%s", logText)
	}
	// A broken edit keeps the last good project; fixing it reloads.
	model := filepath.Join(dir, "models/marts/daily_sales.sql")
	good, _ := os.ReadFile(model)
	os.WriteFile(model, []byte("select * from {{ ref('ordrs') }}"), 0o644)
	var errBody map[string]map[string]string
	if code := s.call("POST", "/api/v1/reload", "", &errBody); code != 400 || !strings.Contains(errBody["error"]["message"], `did you mean "orders"?`) {
		t.Errorf("reload of a broken project: %d %v", code, errBody)
	}
	if code := s.call("GET", "/api/v1/nodes/daily_sales", "", nil); code != 200 {
		t.Errorf("the last good project is not served: %d", code)
	}
	os.WriteFile(model, good, 0o644)
	if code := s.call("POST", "/api/v1/reload", "", nil); code != 200 {
		t.Errorf("reload after the fix: %d", code)
	}
}

// kill -9 in the middle of a run, then restart: the run is marked failed,
// the run queued behind it runs once, the next scheduled run happens once,
// and no table is half-written.
func TestServeKilledMidRunRestartsCleanly(t *testing.T) {
	dir, token := shopProject(t)
	s := startServe(t, dir, token, "2011-06-01T04:59:58Z") // 06:00 London: daily_full and hourly_marts
	run := s.waitRun("daily_full", 30*time.Second, tandem.StatusRunning)
	// Kill while the biggest table is being rebuilt.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var logs struct{ Lines []struct{ Msg string } }
		s.call("GET", "/api/v1/runs/"+run.ID+"/logs", "", &logs)
		if len(logs.Lines) > 0 && strings.Contains(logs.Lines[len(logs.Lines)-1].Msg, "started model stg_retail_lines") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stg_retail_lines never started:\n%s", s.log)
		}
	}
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()

	// Restart the next morning, a few seconds before 06:00 London.
	s2 := startServe(t, dir, token, "2011-06-02T04:59:57Z")
	dailies := func() []*tandem.Run { return s2.runs("daily_full") }
	s2.waitRun("daily_full", 30*time.Second, tandem.StatusSuccess)
	var got []string
	for _, r := range dailies() {
		got = append(got, fmt.Sprintf("%s %s", r.ScheduledFor.UTC().Format("01-02 15:04"), r.Status))
	}
	if strings.Join(got, ", ") != "06-02 05:00 success, 06-01 05:00 error" {
		t.Errorf("daily_full runs: %v", got)
	}
	// hourly_marts: the 05:00 run that was queued behind the killed one ran
	// after the restart; then one catch-up for the night; then 05:00 on the 2nd.
	s2.waitRun("hourly_marts", 30*time.Second, tandem.StatusSuccess)
	time.Sleep(2 * time.Second)
	var hourly []string
	seen := map[string]bool{}
	for _, r := range s2.runs("hourly_marts") {
		key := r.ScheduledFor.UTC().Format("01-02 15:04")
		if seen[key] {
			t.Errorf("hourly_marts ran twice for %s", key)
		}
		seen[key] = true
		hourly = append(hourly, key)
	}
	if !seen["06-01 05:00"] {
		t.Errorf("the queued 05:00 hourly run was lost: %v", hourly)
	}
	var interrupted tandem.Run
	s2.call("GET", "/api/v1/runs/"+run.ID, "", &interrupted)
	if interrupted.Status != tandem.StatusError {
		t.Errorf("interrupted run status %s", interrupted.Status)
	}
	s2.cmd.Process.Signal(syscall.SIGTERM)
	s2.cmd.Wait()
	rows := query(t, dir, `select (select count(*) from {{ ref('stg_retail_lines') }}), (select count(*) from {{ ref('orders') }}),
		(select count(*) from information_schema.tables where table_name like '%tandem_stage%')`)
	if rows[0][0] != float64(318222) || rows[0][1] != float64(12383) || rows[0][2] != float64(0) {
		t.Errorf("tables after kill and restart: %v, want [318222 12383 0]", rows[0])
	}
}

// SIGTERM lets the run in progress finish, then exits 0; JSON logs carry
// the run id on every line of the run.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	dir, token := shopProject(t)
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve", "--project-dir", dir, "--addr", addr, "--log-format", "json")
	cmd.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, url: "http://" + addr, token: token, log: &logs}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := nethttp.Get(s.url + "/readyz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
	}
	var run tandem.Run
	s.call("POST", "/api/v1/jobs/daily_full/trigger", "", &run)
	s.waitRun("daily_full", 20*time.Second, tandem.StatusRunning)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	out := mustRun(t, "runs", run.ID, "--project-dir", dir, "-o", "json")
	var done tandem.Run
	json.Unmarshal([]byte(out), &done)
	if done.Status != tandem.StatusSuccess || len(done.Nodes) != 53 {
		t.Errorf("the run in progress was not finished: %s with %d nodes", done.Status, len(done.Nodes))
	}
	var runLines, withID int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %s", line)
		}
		if msg := rec["msg"]; msg == "node finished" || msg == "run started" || msg == "run finished" {
			runLines++
			if rec["run_id"] == run.ID {
				withID++
			}
		}
	}
	if runLines == 0 || runLines != withID {
		t.Errorf("%d of %d run log lines carry the run id", withID, runLines)
	}
}
