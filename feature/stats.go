package feature

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/project"
)

// ViewStats describes the offline data of a feature view: how many rows,
// how recent, and per feature its nulls, distinct values, range and
// distribution.
type ViewStats struct {
	View     string
	Rows     int64
	Latest   time.Time // the newest event timestamp
	Features []*FeatureStats
}

// FeatureStats is one feature's statistics.
type FeatureStats struct {
	Name, Type string
	Nulls      int64
	Distinct   int64 // approximate
	Min, Max   string
	// Bins is a histogram: ten equal-width bins from Min to Max for
	// numbers, the most frequent values for anything else.
	Bins []Bin
}

// Bin is one bar of a histogram.
type Bin struct {
	Label string
	Count int64
}

// Stats reads a view's statistics from its source in the warehouse.
func (s *Store) Stats(ctx context.Context, name string) (*ViewStats, error) {
	v, ok := s.Registry.Views[name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no feature view %q", name)
	}
	if v.Relation == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "feature view %q is computed from the event stream and has no table to describe", name)
	}
	out := &ViewStats{View: name}
	q := project.QuoteIdent
	sel := []string{"count(*)", "max(" + q(v.Timestamp) + ")"}
	for _, f := range v.Features {
		c := q(f.Name)
		sel = append(sel, "count(*) - count("+c+")", "approx_count_distinct("+c+")")
		if orderable(f.Type) {
			sel = append(sel, "min("+c+")::VARCHAR", "max("+c+")::VARCHAR")
		} else {
			sel = append(sel, "NULL", "NULL")
		}
	}
	err := s.Warehouse.Each(ctx, "select "+strings.Join(sel, ", ")+" from "+v.Relation, func(_ []tandem.Column, row []any) error {
		out.Rows = conv.Int64(row[0])
		out.Latest, _ = row[1].(time.Time)
		for i, f := range v.Features {
			fs := &FeatureStats{Name: f.Name, Type: f.Type, Nulls: conv.Int64(row[2+4*i]), Distinct: conv.Int64(row[3+4*i])}
			if row[4+4*i] != nil {
				fs.Min, fs.Max = fmt.Sprint(row[4+4*i]), fmt.Sprint(row[5+4*i])
			}
			out.Features = append(out.Features, fs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, fs := range out.Features {
		if err := s.histogram(ctx, v, fs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orderable(typ string) bool { return !strings.HasSuffix(typ, "_list") }

func numeric(typ string) bool {
	switch typ {
	case "int32", "int64", "float32", "float64":
		return true
	}
	return false
}

// histogram fills fs.Bins.
func (s *Store) histogram(ctx context.Context, v *View, fs *FeatureStats) error {
	c := project.QuoteIdent(fs.Name)
	if numeric(fs.Type) {
		if fs.Min == "" {
			return nil
		}
		var lo, hi float64
		fmt.Sscan(fs.Min, &lo)
		fmt.Sscan(fs.Max, &hi)
		const n = 10
		width := (hi - lo) / n
		if width <= 0 {
			fs.Bins = []Bin{{Label: fs.Min, Count: 0}}
			return s.Warehouse.Each(ctx, fmt.Sprintf("select count(%s) from %s", c, v.Relation), func(_ []tandem.Column, row []any) error {
				fs.Bins[0].Count = conv.Int64(row[0])
				return nil
			})
		}
		fs.Bins = make([]Bin, n)
		for i := range fs.Bins {
			fs.Bins[i].Label = fmt.Sprintf("%.4g to %.4g", lo+float64(i)*width, lo+float64(i+1)*width)
		}
		sql := fmt.Sprintf("select least(floor((%s::DOUBLE - %v) / %v)::BIGINT, %d) as b, count(*) from %s where %s is not null group by b",
			c, lo, width, n-1, v.Relation, c)
		return s.Warehouse.Each(ctx, sql, func(_ []tandem.Column, row []any) error {
			if b := conv.Int64(row[0]); b >= 0 && b < n {
				fs.Bins[b].Count = conv.Int64(row[1])
			}
			return nil
		})
	}
	sql := fmt.Sprintf("select %s::VARCHAR as v, count(*) as n from %s where %s is not null group by v order by n desc, v limit 8", c, v.Relation, c)
	return s.Warehouse.Each(ctx, sql, func(_ []tandem.Column, row []any) error {
		fs.Bins = append(fs.Bins, Bin{Label: fmt.Sprint(row[0]), Count: conv.Int64(row[1])})
		return nil
	})
}
