package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

func open(t *testing.T) *MetaStore {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "meta", "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRuns(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Date(2011, 3, 27, 0, 59, 0, 0, time.UTC)
	for i, id := range []string{"r1", "r2", "r3"} {
		if err := s.CreateRun(ctx, &tandem.Run{ID: id, Command: "build", Status: tandem.StatusRunning, StartedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRun(ctx, &tandem.Run{ID: "r1", Status: tandem.StatusRunning, StartedAt: t0}); err == nil {
		t.Error("a second run with the same id was accepted")
	}
	res := &tandem.NodeResult{Node: "model.p.a", Kind: tandem.KindModel, Status: tandem.StatusError, Attempts: 1, Message: "boom", Duration: 1500 * time.Millisecond}
	if err := s.SaveNodeResult(ctx, "r2", res); err != nil {
		t.Fatal(err)
	}
	res.Status, res.Attempts, res.Rows, res.CompiledSQL = tandem.StatusSuccess, 2, 42, "select 1"
	if err := s.SaveNodeResult(ctx, "r2", res); err != nil { // a retry replaces the result
		t.Fatal(err)
	}
	if err := s.SaveNodeResult(ctx, "r2", &tandem.NodeResult{Node: "test.p.t", Kind: tandem.KindTest, Status: tandem.StatusFail, Rows: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, &tandem.Run{ID: "r2", Status: tandem.StatusError, EndedAt: t0.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, &tandem.Run{ID: "nope", Status: tandem.StatusError}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("finish an unknown run: %v", err)
	}
	r, err := s.FindRun(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != tandem.StatusError || !r.EndedAt.Equal(t0.Add(2*time.Minute)) || len(r.Nodes) != 2 {
		t.Fatalf("run r2 = %+v", r)
	}
	if n := r.Nodes[0]; n.Node != "model.p.a" || n.Status != tandem.StatusSuccess || n.Attempts != 2 || n.Rows != 42 || n.CompiledSQL != "select 1" || n.Duration != 1500*time.Millisecond {
		t.Errorf("node result = %+v", n)
	}
	if _, err := s.FindRun(ctx, "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("find an unknown run: %v", err)
	}
	runs, err := s.FindRuns(ctx, tandem.RunFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "r3" || runs[1].ID != "r2" {
		t.Errorf("latest runs = %v, %v", runs[0].ID, runs[1].ID)
	}
}

func TestTableVersions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for v := 1; v <= 3; v++ {
		if err := s.AddTableVersion(ctx, &tandem.TableVersion{Node: "model.p.t", Relation: "main.t", Version: v, Stored: "main.t__tandem_v", CreatedAt: time.Now(), Rows: int64(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddTableVersion(ctx, &tandem.TableVersion{Node: "model.p.t", Version: 2, CreatedAt: time.Now()}); err == nil {
		t.Error("a duplicate version was accepted")
	}
	if err := s.DeleteTableVersion(ctx, "model.p.t", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTableVersion(ctx, "model.p.t", 1); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("delete twice: %v", err)
	}
	vs, err := s.TableVersions(ctx, "model.p.t")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Version != 3 || vs[1].Version != 2 || vs[0].Rows != 3 {
		t.Errorf("versions = %+v", vs)
	}
}

func TestLatestResults(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Date(2011, 3, 27, 0, 59, 0, 0, time.UTC)
	save := func(run, node string, st tandem.Status) {
		t.Helper()
		if err := s.SaveNodeResult(ctx, run, &tandem.NodeResult{Node: node, Kind: tandem.KindTest, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []string{"r1", "r2"} {
		if err := s.CreateRun(ctx, &tandem.Run{ID: id, Command: "build", Status: tandem.StatusSuccess, StartedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	save("r1", "test.a", tandem.StatusFail)
	save("r1", "test.b", tandem.StatusSuccess)
	save("r2", "test.a", tandem.StatusSuccess)
	all, err := s.LatestResults(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["test.a"].Status != tandem.StatusSuccess || all["test.a"].RunID != "r2" || all["test.b"].RunID != "r1" {
		t.Errorf("latest of every node: %+v %+v", all["test.a"], all["test.b"])
	}
	some, err := s.LatestResults(ctx, []string{"test.b", "test.c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 1 || some["test.b"].Status != tandem.StatusSuccess {
		t.Errorf("latest of test.b and test.c: %v", some)
	}
	if none, err := s.LatestResults(ctx, []string{}); err != nil || len(none) != 0 {
		t.Errorf("no nodes: %v %v", none, err)
	}
}
