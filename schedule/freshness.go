package schedule

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// Freshness statuses.
const (
	FreshPass  = "pass"
	FreshWarn  = "warn"
	FreshError = "error"
)

// FreshnessResult is one node's freshness against its SLA.
type FreshnessResult struct {
	Node       string        `json:"node"`
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	Owner      string        `json:"owner,omitempty"`
	Status     string        `json:"status"`
	LoadedAt   time.Time     `json:"loaded_at,omitzero"` // newest row (sources) or last successful build (models)
	Age        time.Duration `json:"age_ns"`
	WarnAfter  time.Duration `json:"warn_after_ns,omitempty"`
	ErrorAfter time.Duration `json:"error_after_ns,omitempty"`
	Message    string        `json:"message,omitempty"`
}

// LastSuccess says when a node was last built successfully.
type LastSuccess func(ctx context.Context, node string) (time.Time, error)

// CheckFreshness measures every node that has a freshness SLA, at now.
func CheckFreshness(ctx context.Context, p *project.Project, w tandem.Warehouse, last LastSuccess, now time.Time) []*FreshnessResult {
	var out []*FreshnessResult
	for _, id := range p.Order {
		n := p.Nodes[id]
		if n.Freshness == nil {
			continue
		}
		r := &FreshnessResult{Node: id, Name: n.Name, Kind: string(n.Kind), Owner: n.Owner, WarnAfter: n.Freshness.WarnAfter, ErrorAfter: n.Freshness.ErrorAfter}
		var err error
		if n.Kind == tandem.KindSource {
			r.LoadedAt, err = loadedAt(ctx, p, w, n)
		} else {
			r.LoadedAt, err = last(ctx, id)
		}
		switch {
		case err != nil:
			r.Status, r.Message = FreshError, err.Error()
		case r.LoadedAt.IsZero() && n.Kind == tandem.KindSource:
			r.Status, r.Message = FreshError, fmt.Sprintf("no rows with a %s", n.LoadedAtField)
		case r.LoadedAt.IsZero():
			r.Status, r.Message = FreshError, "never built successfully"
		default:
			r.Age = now.Sub(r.LoadedAt)
			r.Status = FreshPass
			if n.Freshness.WarnAfter > 0 && r.Age > n.Freshness.WarnAfter {
				r.Status = FreshWarn
				r.Message = fmt.Sprintf("last data %s ago, warn after %s", roundAge(r.Age), n.Freshness.WarnAfter)
			}
			if n.Freshness.ErrorAfter > 0 && r.Age > n.Freshness.ErrorAfter {
				r.Status = FreshError
				r.Message = fmt.Sprintf("last data %s ago, error after %s", roundAge(r.Age), n.Freshness.ErrorAfter)
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// loadedAt reads the newest loaded_at_field of a source, as UTC.
func loadedAt(ctx context.Context, p *project.Project, w tandem.Warehouse, n *tandem.Node) (time.Time, error) {
	where := ""
	if n.Freshness.Filter != "" {
		where = " where " + n.Freshness.Filter
	}
	rows, err := w.Query(ctx, fmt.Sprintf("select epoch_us(max(cast(%s as timestamp))) from %s%s", project.QuoteIdent(n.LoadedAtField), p.Relation(n), where), 1)
	if err != nil {
		return time.Time{}, err
	}
	v := rows.Rows[0][0]
	if v == nil {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %v", n.LoadedAtField, err)
	}
	return time.UnixMicro(us).UTC(), nil
}
