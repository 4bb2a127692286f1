package tandem

import (
	"context"
	"time"
)

// StatusQueued is a run that is claimed but has not started.
const StatusQueued Status = "queued"

// Job is a named, scheduled selection of nodes (tandem.yaml schedules: or a
// model's config(schedule=...)).
type Job struct {
	Name        string   `json:"name"`
	Command     string   `json:"command"` // build, run, seed or test
	Select      []string `json:"select"`
	Exclude     []string `json:"exclude,omitempty"`
	Cron        string   `json:"cron"`
	Timezone    string   `json:"timezone"`
	Catchup     string   `json:"catchup"` // latest, all or none
	Overlap     string   `json:"overlap"` // skip or queue
	OnNewData   bool     `json:"on_new_data"`
	FullRefresh bool     `json:"full_refresh"`
	Owner       string   `json:"owner,omitempty"`
	Origin      string   `json:"origin"` // the file that declares it
}

// RunFilter narrows FindRuns.
type RunFilter struct {
	Limit    int
	Job      string
	Statuses []Status
}

// JobStore keeps what the scheduler must remember across restarts.
type JobStore interface {
	// ClaimRun creates run (status queued) for a scheduled time of its job,
	// unless a run for that job at that time or later was claimed already;
	// then it returns false. Claiming is atomic: a scheduled time is run
	// once, whatever crashes or restarts happen around it.
	ClaimRun(ctx context.Context, run *Run) (bool, error)
	// LastScheduled returns the latest scheduled time claimed for a job.
	LastScheduled(ctx context.Context, job string) (time.Time, error)
	// RegisterJob records at as a new job's starting point, so it does not
	// catch up on times before it existed; for a known job it returns the
	// latest scheduled time instead.
	RegisterJob(ctx context.Context, job string, at time.Time) (time.Time, error)
	// SkipTo moves a job's latest scheduled time forward to at without a
	// run (missed times that the catch-up policy does not run).
	SkipTo(ctx context.Context, job string, at time.Time) error
	// DataMark and SetDataMark keep, per job, a fingerprint of its
	// upstream data, to trigger it when new data arrives.
	DataMark(ctx context.Context, job string) (string, error)
	SetDataMark(ctx context.Context, job, mark string) error
}

// Interval is one slice of a backfill.
type Interval struct {
	Backfill   string    `json:"backfill"`
	Node       string    `json:"node"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Status     Status    `json:"status"` // success or error; absent when not run
	RunID      string    `json:"run_id"`
	Rows       int64     `json:"rows"`
	Message    string    `json:"message,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// BackfillStore records which intervals of a backfill are done.
type BackfillStore interface {
	SaveInterval(ctx context.Context, iv *Interval) error
	// Intervals returns the recorded intervals of a backfill, by start.
	Intervals(ctx context.Context, backfill string) ([]*Interval, error)
}

// Roles of API tokens, in increasing power.
const (
	RoleViewer = "viewer"
	RoleEditor = "editor"
	RoleAdmin  = "admin"
)

// Token is an API credential. The secret is shown once; only its hash is kept.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenStore keeps API tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	// FindToken returns the token with this hash, or ENOTFOUND.
	FindToken(ctx context.Context, hash string) (*Token, error)
	Tokens(ctx context.Context) ([]*Token, error)
	// DeleteToken revokes a token, or returns ENOTFOUND.
	DeleteToken(ctx context.Context, id string) error
}

// Session is a web UI visitor signed in with a token: a random id, of
// which only the hash is kept, standing for the token until it expires, the
// visitor signs out, or the token is revoked.
type Session struct {
	Hash      string
	TokenID   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps web UI sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the session with this hash and its token, or
	// ENOTFOUND when it is unknown, expired at now, signed out, or its
	// token was revoked (revoking a token ends its sessions).
	FindSession(ctx context.Context, hash string, now time.Time) (*Session, *Token, error)
	// DeleteSession ends a session; ending an unknown one is no error.
	DeleteSession(ctx context.Context, hash string) error
}

// AuditEntry is one recorded write: who did what, when.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // token name and id, or "cli:user@host"
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// AuditLog records writes.
type AuditLog interface {
	AddAudit(ctx context.Context, e *AuditEntry) error
	Audit(ctx context.Context, limit int) ([]*AuditEntry, error)
}

// Incident is an open or closed problem that alerts were sent about.
type Incident struct {
	Key      string    `json:"key"` // "job:hourly", "test:<id>", "freshness:<id>"
	Owner    string    `json:"owner"`
	Summary  string    `json:"summary"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// IncidentStore makes alerts one per incident, across restarts.
type IncidentStore interface {
	// OpenIncident opens an incident unless one with the key is open; it
	// reports whether it opened one.
	OpenIncident(ctx context.Context, inc *Incident) (bool, error)
	// CloseIncident closes the open incident with the key, returning it,
	// or nil when none is open.
	CloseIncident(ctx context.Context, key string, at time.Time) (*Incident, error)
	Incidents(ctx context.Context, openOnly bool) ([]*Incident, error)
}
