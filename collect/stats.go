package collect

import (
	"context"
	"fmt"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
)

// Stats is the recent traffic of the collector as loaded into the
// warehouse: events per minute per event, and the quarantine grouped by
// the violation that sent each event there.
type Stats struct {
	From, To    time.Time          // the window, To excluded
	Minutes     int                // its length
	PerMinute   map[string][]int64 // event (or type: page, identify) -> count per minute
	Total       int64              // events in the window
	Quarantined int64              // quarantined in the window
	Groups      []*QuarantineGroup // every quarantined event (not replayed), by violation, most first
}

// QuarantineGroup is the quarantined events of one violation type.
type QuarantineGroup struct {
	Violation string
	Count     int64
	Examples  []QuarantineExample // the latest few
}

// QuarantineExample is one quarantined event.
type QuarantineExample struct {
	ReceivedAt time.Time
	Event      string
	Path       string
	Message    string
	Raw        string
}

// LoadStats reads the minutes before now from the loader's tables in
// schema. When nothing arrived then, the window ends at the last event
// received instead, so that a quiet collector still shows its last hour
// of traffic.
func LoadStats(ctx context.Context, w tandem.Warehouse, schema string, now time.Time, minutes int) (*Stats, error) {
	s := q(schema)
	st := &Stats{Minutes: minutes, PerMinute: map[string][]int64{}}
	if kind, err := w.RelationKind(ctx, schema, "quarantine"); err != nil || kind == "" {
		return st, err // the collector has not loaded anything yet
	}
	var last time.Time
	err := w.Each(ctx, fmt.Sprintf(`select max(received_at) from %s.events`, s), func(_ []tandem.Column, row []any) error {
		last, _ = row[0].(time.Time)
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.To = now.UTC().Truncate(time.Minute).Add(time.Minute)
	if !last.IsZero() && last.Before(st.To.Add(-time.Duration(minutes)*time.Minute)) {
		st.To = last.UTC().Truncate(time.Minute).Add(time.Minute)
	}
	st.From = st.To.Add(-time.Duration(minutes) * time.Minute)
	window := fmt.Sprintf("received_at >= %s and received_at < %s", tsLit(st.From), tsLit(st.To))
	err = w.Each(ctx, fmt.Sprintf(`select coalesce(event, type), date_diff('minute', %s, received_at), count(*)
		from %s.events where %s group by all`, tsLit(st.From), s, window), func(_ []tandem.Column, row []any) error {
		name, _ := row[0].(string)
		m, n := conv.Int64(row[1]), conv.Int64(row[2])
		if m < 0 || m >= int64(minutes) {
			return nil
		}
		if st.PerMinute[name] == nil {
			st.PerMinute[name] = make([]int64, minutes)
		}
		st.PerMinute[name][m] += n
		st.Total += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = w.Each(ctx, fmt.Sprintf(`select count(*) from %s.quarantine where %s and not replayed`, s, window), func(_ []tandem.Column, row []any) error {
		st.Quarantined = conv.Int64(row[0])
		return nil
	})
	if err != nil {
		return nil, err
	}
	byType := map[string]*QuarantineGroup{}
	err = w.Each(ctx, fmt.Sprintf(`select violation, count(*) from %s.quarantine where not replayed group by all order by 2 desc, 1`, s),
		func(_ []tandem.Column, row []any) error {
			g := &QuarantineGroup{Violation: fmt.Sprint(row[0]), Count: conv.Int64(row[1])}
			byType[g.Violation] = g
			st.Groups = append(st.Groups, g)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = w.Each(ctx, fmt.Sprintf(`select violation, received_at, coalesce(event, type, ''), path, message, raw::VARCHAR from %s.quarantine
		where not replayed qualify row_number() over (partition by violation order by received_at desc, "offset" desc) <= 3
		order by violation, received_at desc`, s), func(_ []tandem.Column, row []any) error {
		g := byType[fmt.Sprint(row[0])]
		if g == nil {
			return nil
		}
		ex := QuarantineExample{Event: fmt.Sprint(row[2]), Path: fmt.Sprint(row[3]), Message: fmt.Sprint(row[4]), Raw: fmt.Sprint(row[5])}
		ex.ReceivedAt, _ = row[1].(time.Time)
		g.Examples = append(g.Examples, ex)
		return nil
	})
	return st, err
}

// tsLit is a timestamp literal for a time the platform computed (never one a
// client sent).
func tsLit(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02T15:04:05.999999Z") + "'::TIMESTAMPTZ"
}
