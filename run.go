package tandem

import "time"

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
	ScheduledFor time.Time     `json:"scheduled_for,omitzero"`
	Trigger      string        `json:"trigger,omitempty"` // schedule, catchup, new-data, api, cli
	Status       Status        `json:"status"`
	StartedAt    time.Time     `json:"started_at"`
	EndedAt      time.Time     `json:"ended_at,omitzero"`
	Nodes        []*NodeResult `json:"nodes,omitempty"`
}

// NodeResult is what happened to one node in a run.
type NodeResult struct {
	Node        string        `json:"node"` // node ID
	Kind        NodeKind      `json:"kind"`
	Status      Status        `json:"status"`
	StartedAt   time.Time     `json:"started_at,omitzero"`
	Duration    time.Duration `json:"duration_ns"`
	Rows        int64         `json:"rows"`     // rows written, or failing rows of a test
	Attempts    int           `json:"attempts"` // 1 unless retried
	Message     string        `json:"message,omitempty"`
	CompiledSQL string        `json:"compiled_sql,omitempty"`
	RunID       string        `json:"run_id,omitempty"` // set by LatestResults
}

// Failed reports whether a node result counts as a failure for retry.
func (r *NodeResult) Failed() bool {
	return r.Status == StatusError || r.Status == StatusFail || r.Status == StatusSkipped
}
