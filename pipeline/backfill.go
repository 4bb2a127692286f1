package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
)

// Backfill is a plan to rebuild a model interval by interval.
type Backfill struct {
	ID        string
	Node      *tandem.Node
	Start     time.Time
	End       time.Time
	Batch     Batch
	Intervals [][2]time.Time
}

// Batch is a backfill step: a number of days, hours or minutes, or months.
type Batch struct {
	Months int
	Dur    time.Duration
	Text   string
}

// ParseBatch reads "1d", "12h", "30m", "1w" or "1mo".
func ParseBatch(s string) (Batch, error) {
	bad := tandem.Errorf(tandem.EINVALID, "--batch %q: write a number and a unit: 30m, 6h, 1d, 1w or 1mo", s)
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"mo", 0}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n < 1 {
				return Batch{}, bad
			}
			if u.suffix == "mo" {
				return Batch{Months: n, Text: s}, nil
			}
			return Batch{Dur: time.Duration(n) * u.unit, Text: s}, nil
		}
	}
	return Batch{}, bad
}

func (b Batch) add(t time.Time) time.Time {
	if b.Months > 0 {
		return t.AddDate(0, b.Months, 0)
	}
	return t.Add(b.Dur)
}

// PlanBackfill checks that the model can be backfilled and cuts [start,
// end) into intervals. The plan's id is the same for the same request, so
// running it again resumes it.
func (r *Runner) PlanBackfill(n *tandem.Node, start, end time.Time, batch Batch) (*Backfill, error) {
	if n.Kind != tandem.KindModel || n.Materialized != tandem.Incremental {
		return nil, tandem.Errorf(tandem.EINVALID, "%s is a %s %s; backfills rebuild incremental models: set config(materialized='incremental', time_column='...')", n.Name, n.Materialized, n.Kind)
	}
	col, _ := n.Config["time_column"].(string)
	if col == "" {
		return nil, tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "%s has no time_column: add config(time_column='the timestamp column') so each interval replaces only its own rows", n.Name)
	}
	if !end.After(start) {
		return nil, tandem.Errorf(tandem.EINVALID, "--end (%s) must be after --start (%s)", end.Format(time.DateTime), start.Format(time.DateTime))
	}
	b := &Backfill{Node: n, Start: start, End: end, Batch: batch}
	for t := start; t.Before(end); t = batch.add(t) {
		next := batch.add(t)
		if next.After(end) {
			next = end
		}
		b.Intervals = append(b.Intervals, [2]time.Time{t, next})
		if len(b.Intervals) > 100000 {
			return nil, tandem.Errorf(tandem.EINVALID, "more than 100,000 intervals: use a larger --batch")
		}
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%s|%s", n.ID, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), batch.Text)))
	b.ID = "bf-" + n.Name + "-" + hex.EncodeToString(h[:4])
	return b, nil
}

// IntervalProgress, when set on a backfill call, hears about each interval.
type IntervalProgress func(iv *tandem.Interval, done, total int, skipped bool)

// RunBackfill runs the intervals of b not yet done, in order, each in one
// transaction that replaces exactly the rows of its interval: running a
// backfill twice gives the same table. It stops at the first failure; run
// it again to resume from there.
func (r *Runner) RunBackfill(ctx context.Context, run *tandem.Run, b *Backfill, progress IntervalProgress) (*tandem.Run, error) {
	done, err := r.Meta.Intervals(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	finished := map[time.Time]bool{}
	for _, iv := range done {
		if iv.Status == tandem.StatusSuccess {
			finished[iv.Start.UTC()] = true
		}
	}
	claimed := run.Status == tandem.StatusQueued // stored by the scheduler
	run.Status, run.StartedAt, run.Process = tandem.StatusRunning, r.Clock(), tandem.ThisProcess()
	if run.ID == "" {
		run.ID = NewRunID(r.Clock())
	}
	store := r.Meta.CreateRun
	if claimed {
		store = r.Meta.UpdateRun
	}
	if err := store(ctx, run); err != nil {
		return nil, err
	}
	if r.catalog == nil {
		cat, err := r.Warehouse.Relations(ctx)
		if err != nil {
			return nil, err
		}
		r.catalog, r.schemas = cat, map[string]bool{}
	}
	n := b.Node
	res := &tandem.NodeResult{Node: n.ID, Kind: n.Kind, Status: tandem.StatusSuccess, StartedAt: r.Clock(), Attempts: 1}
	start := time.Now()
	for i, span := range b.Intervals {
		iv := &tandem.Interval{Backfill: b.ID, Node: n.ID, Start: span[0], End: span[1], RunID: run.ID}
		if finished[span[0].UTC()] {
			if progress != nil {
				progress(iv, i+1, len(b.Intervals), true)
			}
			continue
		}
		rows, err := r.backfillInterval(ctx, n, span[0], span[1])
		iv.Rows, iv.FinishedAt, iv.Status = rows, r.Clock(), tandem.StatusSuccess
		if err != nil {
			iv.Status, iv.Message = tandem.StatusError, r.located(n, err)
			res.Status, res.Message = tandem.StatusError, fmt.Sprintf("interval %s to %s: %s", span[0].Format(time.DateTime), span[1].Format(time.DateTime), iv.Message)
		}
		res.Rows += rows
		if err := r.Meta.SaveInterval(ctx, iv); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(iv, i+1, len(b.Intervals), false)
		}
		if res.Status == tandem.StatusError {
			break
		}
	}
	res.Duration = time.Since(start)
	run.Status, run.EndedAt, run.Nodes = res.Status, r.Clock(), []*tandem.NodeResult{res}
	if err := r.Meta.SaveNodeResult(ctx, run.ID, res); err != nil {
		return nil, err
	}
	return run, r.Meta.UpdateRun(ctx, run)
}

// backfillInterval replaces the rows of [start, end) with what the model
// computes for it; the SQL sees the interval as var('start') and var('end').
func (r *Runner) backfillInterval(ctx context.Context, n *tandem.Node, start, end time.Time) (int64, error) {
	vars := map[string]any{}
	for k, v := range r.Vars {
		vars[k] = v
	}
	vars["start"], vars["end"] = start.UTC().Format(time.DateTime), end.UTC().Format(time.DateTime)
	saved := r.Vars
	r.Vars = vars
	var res tandem.NodeResult
	sql, err := r.compile(n, r.kind(r.Project.SchemaOf(n), n.Relation()) == "table", &res)
	r.Vars = saved
	if err != nil {
		return 0, err
	}
	schema, name := r.Project.SchemaOf(n), n.Relation()
	if err := r.ensureSchema(ctx, schema); err != nil {
		return 0, err
	}
	col := q(n.Config["time_column"].(string))
	target := rel(schema, name)
	// The interval's bounds also filter the query's rows: whatever the SQL
	// does, an interval never writes outside itself.
	filtered := fmt.Sprintf("select * from (\n%s\n) as backfill where %s >= '%s' and %s < '%s'", sql, col, vars["start"], col, vars["end"])
	exists := r.kind(schema, name) == "table"
	var rows int64
	err = r.Warehouse.Tx(ctx, func(tx tandem.Execer) error {
		if !exists {
			if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s as %s limit 0", target, filtered)); err != nil {
				return inCompiled(err, sql)
			}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("delete from %s where %s >= '%s' and %s < '%s'", target, col, vars["start"], col, vars["end"])); err != nil {
			return err
		}
		var err error
		rows, err = tx.Exec(ctx, fmt.Sprintf("insert into %s by name %s", target, filtered))
		return inCompiled(err, sql)
	})
	if err == nil && !exists {
		r.setKind(schema, name, "table")
	}
	return rows, err
}
