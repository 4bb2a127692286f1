package tandem

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Status of a run or of one node in it.
type Status string

const (
	StatusRunning Status = "running"
	StatusSuccess Status = "success"
	StatusError   Status = "error"
	StatusWarn    Status = "warn"    // a warn-severity test failed
	StatusFail    Status = "fail"    // an error-severity test failed
	StatusSkipped Status = "skipped" // an upstream node failed
)

// Run is one invocation of build, run, seed, test or retry.
type Run struct {
	ID        string `json:"id"`
	Command   string `json:"command"`    // "build", "run", "retry", ...
	Args      string `json:"args"`       // selection and flags as given
	StartedBy string `json:"started_by"` // user@host, token name, or "scheduler"
	Job       string `json:"job,omitempty"`
	// ScheduledFor is the schedule time a job's run stands for.
	ScheduledFor time.Time `json:"scheduled_for,omitzero"`
	Trigger      string    `json:"trigger,omitempty"` // schedule, catchup, new-data, api, cli
	Status       Status    `json:"status"`
	StartedAt    time.Time `json:"started_at"`
	EndedAt      time.Time `json:"ended_at,omitzero"`
	// Process is the process carrying the run out ("host:pid"), so that
	// the next command can tell a run whose process is gone.
	Process string `json:"process,omitempty"`
	// Reason says why a run ended as it did when its nodes cannot (a
	// process killed, a stop of tandem serve).
	Reason string        `json:"reason,omitempty"`
	Nodes  []*NodeResult `json:"nodes,omitempty"`
}

// NodeResult is what happened to one node in a run.
type NodeResult struct {
	Node      string        `json:"node"` // node ID
	Kind      NodeKind      `json:"kind"`
	Status    Status        `json:"status"`
	StartedAt time.Time     `json:"started_at,omitzero"`
	Duration  time.Duration `json:"duration_ns"`
	Rows      int64         `json:"rows"` // rows written, or failing rows of a test
	// TableRows is the rows in the table after an incremental build (Rows
	// are those it added or changed); 0 for other nodes.
	TableRows   int64  `json:"table_rows,omitempty"`
	Attempts    int    `json:"attempts"` // 1 unless retried
	Message     string `json:"message,omitempty"`
	CompiledSQL string `json:"compiled_sql,omitempty"`
	RunID       string `json:"run_id,omitempty"` // set by LatestResults
}

// Failed reports whether a node result counts as a failure for retry.
func (r *NodeResult) Failed() bool {
	return r.Status == StatusError || r.Status == StatusFail || r.Status == StatusSkipped
}

// ThisProcess names this process as Run.Process does: "host:pid".
func ThisProcess() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// ProcessGone reports whether the process a Run.Process names has ended:
// only for this host (another host's processes cannot be seen from here).
func ProcessGone(process string) bool {
	host, pid, ok := strings.Cut(process, ":")
	if !ok {
		return false
	}
	if h, _ := os.Hostname(); h != host {
		return false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	return !processAlive(n)
}

// OrphanReason is why a run failed whose process ended without finishing
// it: a CLI run's process was killed (a full disk, a broken pipe, Ctrl-C
// twice); a server's run was cut by a stop of tandem serve.
func OrphanReason(r *Run) string {
	if r.Trigger == "cli" {
		return "the CLI process that ran it (" + r.Process + ") ended before the run did: killed, out of disk space, or its output closed (a broken pipe); run it again"
	}
	return "interrupted by a stop of tandem serve; the run was not resumed"
}
