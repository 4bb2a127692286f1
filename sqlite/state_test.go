package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

func TestClaimRunOncePerScheduledTime(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2011, 1, 1, 10, 0, 0, 0, time.UTC)
	claim := func(s *MetaStore, id string, when time.Time) bool {
		ok, err := s.ClaimRun(ctx, &tandem.Run{ID: id, Job: "hourly", Command: "build", ScheduledFor: when, StartedAt: when})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(s, "a", at) || claim(s, "b", at) || claim(s, "c", at.Add(-time.Hour)) {
		t.Fatal("a scheduled time, or an earlier one, was claimed twice")
	}
	s.Close()
	// A restarted process sees the claim.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if claim(s, "d", at) || !claim(s, "e", at.Add(time.Hour)) {
		t.Error("claims did not survive a restart")
	}
	if last, _ := s.LastScheduled(ctx, "hourly"); !last.Equal(at.Add(time.Hour)) {
		t.Errorf("last scheduled = %v", last)
	}
	queued, _ := s.FindRuns(ctx, tandem.RunFilter{Job: "hourly", Statuses: []tandem.Status{tandem.StatusQueued}})
	if len(queued) != 2 || queued[0].ID != "e" || !queued[0].ScheduledFor.Equal(at.Add(time.Hour)) {
		t.Errorf("queued runs = %d", len(queued))
	}
	if err := s.SetDataMark(ctx, "hourly", "v1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.DataMark(ctx, "hourly"); m != "v1" {
		t.Errorf("data mark %q", m)
	}
	if last, _ := s.LastScheduled(ctx, "hourly"); !last.Equal(at.Add(time.Hour)) {
		t.Errorf("data mark changed last scheduled: %v", last)
	}
}

func TestIncidentsOpenOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().UTC()
	inc := &tandem.Incident{Key: "job:hourly", Owner: "ana", Summary: "failed", OpenedAt: now}
	if ok, _ := s.OpenIncident(ctx, inc); !ok {
		t.Fatal("first open")
	}
	if ok, _ := s.OpenIncident(ctx, inc); ok {
		t.Error("an open incident was opened twice")
	}
	closed, err := s.CloseIncident(ctx, "job:hourly", now)
	if err != nil || closed == nil || closed.Owner != "ana" {
		t.Fatalf("close: %+v %v", closed, err)
	}
	if again, _ := s.CloseIncident(ctx, "job:hourly", now); again != nil {
		t.Error("closed twice")
	}
	if ok, _ := s.OpenIncident(ctx, inc); !ok {
		t.Error("a new incident after recovery was not opened")
	}
	open, _ := s.Incidents(ctx, true)
	all, _ := s.Incidents(ctx, false)
	if len(open) != 1 || len(all) != 2 {
		t.Errorf("open %d, all %d", len(open), len(all))
	}
}

func TestTokensAndAudit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.CreateToken(ctx, &tandem.Token{ID: "t1", Name: "ana", Role: "editor", Hash: "h1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.FindToken(ctx, "h1"); err != nil || tok.Name != "ana" || tok.Role != "editor" {
		t.Errorf("find: %+v %v", tok, err)
	}
	if _, err := s.FindToken(ctx, "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("unknown hash: %v", err)
	}
	if err := s.DeleteToken(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindToken(ctx, "h1"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("revoked token still found: %v", err)
	}
	s.AddAudit(ctx, &tandem.AuditEntry{At: time.Now(), Actor: "ana", Action: "run.create", Target: "tag:marts"})
	s.AddAudit(ctx, &tandem.AuditEntry{At: time.Now(), Actor: "bob", Action: "token.create", Target: "t2"})
	if a, _ := s.Audit(ctx, 10); len(a) != 2 || a[0].Actor != "bob" {
		t.Errorf("audit = %+v", a)
	}
}

// The platform clock's anchor is recorded once per start: a second process
// (or a restart) reads the same anchor, so every process of a project reads
// the same time and it never runs backwards; a new start gets its own.
func TestClockAnchorIsSharedAndKept(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	start := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	first := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a1, err := s.ClockAnchor(ctx, start, first)
	if err != nil || !a1.Equal(first) {
		t.Fatalf("first anchor: %v %v", a1, err)
	}
	a2, err := s.ClockAnchor(ctx, start, first.Add(time.Hour))
	if err != nil || !a2.Equal(first) {
		t.Errorf("a later process got anchor %v, want the first one %v (%v)", a2, first, err)
	}
	other := start.AddDate(1, 0, 0)
	if a3, err := s.ClockAnchor(ctx, other, first.Add(2*time.Hour)); err != nil || !a3.Equal(first.Add(2*time.Hour)) {
		t.Errorf("a new start: %v %v", a3, err)
	}
	now := tandem.ShiftedClock(start, time.Now().Add(-time.Hour))()
	if d := now.Sub(start.Add(time.Hour)); d < 0 || d > time.Minute {
		t.Errorf("an hour after its anchor, the clock reads %v, want %v", now, start.Add(time.Hour))
	}
}
