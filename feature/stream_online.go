package feature

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tandem-data/tandem"
)

// Streams computes stream views online: it follows the event log and
// keeps, per view and entity key, the events of the longest window; a
// read aggregates them over (now - window, now], as the offline SQL does
// over the events table.
type Streams struct {
	mu     sync.RWMutex
	views  map[string]*streamState
	next   int64           // the log offset to read next
	parser fastjson.Parser // Apply's, reused: one caller at a time
	Logger *slog.Logger
}

type streamState struct {
	v    *View
	key  eventField
	cols []eventField // per aggregation; zero for count
	maxW time.Duration

	mu     sync.Mutex
	byKey  map[string][]sevent // sorted by ts
	latest time.Time
}

type sevent struct {
	ts  time.Time
	num []float64 // per aggregation, NaN when missing
	str []string  // per aggregation (last_distinct), "" when missing
	has []bool
}

// NewStreams prepares the stream views of a registry.
func NewStreams(r *Registry) *Streams {
	s := &Streams{views: map[string]*streamState{}, Logger: slog.Default()}
	for _, n := range r.ViewNames() {
		v := r.Views[n]
		if v.Stream == nil {
			continue
		}
		st := &streamState{v: v, maxW: v.Stream.maxWindow(), byKey: map[string][]sevent{}}
		st.key, _ = parseField(v.Stream.Key)
		for _, a := range v.Stream.Aggregations {
			c, _ := parseField(a.Column)
			st.cols = append(st.cols, c)
		}
		s.views[n] = st
	}
	return s
}

// Len reports whether there is any stream view to follow.
func (s *Streams) Len() int { return len(s.views) }

// fieldText reads a key or column from a log record's event: the column,
// or the property as json_extract_string renders it (a string as is, any
// other value as its JSON text).
func fieldText(ev *fastjson.Value, f eventField) (string, bool) {
	if f.Column != "" {
		b := ev.GetStringBytes(f.Column)
		return string(b), len(b) > 0
	}
	p := ev.Get("properties", f.Property)
	if p == nil || p.Type() == fastjson.TypeNull {
		return "", false
	}
	if p.Type() == fastjson.TypeString {
		return string(p.GetStringBytes()), true
	}
	return string(p.MarshalTo(nil)), true
}

// Apply adds one log record (an envelope of the collector). One goroutine
// calls it at a time (Follow does); reads (Rows) may run beside it.
func (s *Streams) Apply(data []byte) {
	env, err := s.parser.ParseBytes(data)
	if err != nil || string(env.GetStringBytes("kind")) != "event" {
		return
	}
	ev := env.Get("event")
	if ev == nil || string(ev.GetStringBytes("type")) != "track" {
		return
	}
	name := string(ev.GetStringBytes("event"))
	ts, err := time.Parse(time.RFC3339Nano, string(ev.GetStringBytes("timestamp")))
	if err != nil {
		return
	}
	ts = ts.UTC().Truncate(time.Microsecond) // the warehouse keeps microseconds
	for _, st := range s.views {
		if st.v.Stream.Event != name {
			continue
		}
		key, ok := fieldText(ev, st.key)
		if !ok {
			continue
		}
		e := sevent{ts: ts, num: make([]float64, len(st.cols)), str: make([]string, len(st.cols)), has: make([]bool, len(st.cols))}
		for i, a := range st.v.Stream.Aggregations {
			e.num[i] = math.NaN()
			if a.Function == "count" {
				continue
			}
			txt, ok := fieldText(ev, st.cols[i])
			if !ok {
				continue
			}
			if a.Function == "last_distinct" {
				e.str[i], e.has[i] = txt, true
			} else if f, err := strconv.ParseFloat(txt, 64); err == nil {
				e.num[i], e.has[i] = f, true
			}
		}
		st.add(key, e)
	}
}

func (st *streamState) add(key string, e sevent) {
	st.mu.Lock()
	defer st.mu.Unlock()
	list := st.byKey[key]
	i := sort.Search(len(list), func(i int) bool { return list[i].ts.After(e.ts) })
	list = append(list, sevent{})
	copy(list[i+1:], list[i:])
	list[i] = e
	if e.ts.After(st.latest) {
		st.latest = e.ts
	}
	// Events older than the longest window before the latest one can no
	// longer count at any moment from now on.
	cut := st.latest.Add(-st.maxW)
	j := sort.Search(len(list), func(i int) bool { return list[i].ts.After(cut) })
	if j > 0 {
		list = append(list[:0:0], list[j:]...)
	}
	st.byKey[key] = list
}

// Rows aggregates the view for keys at now: nil for a key with no event
// in the longest window.
func (s *Streams) Rows(v *View, keys []string, now time.Time) []*tandem.OnlineRow {
	out := make([]*tandem.OnlineRow, len(keys))
	st := s.views[v.Name]
	if st == nil {
		return out
	}
	now = now.UTC()
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, key := range keys {
		list := st.byKey[key]
		hi := sort.Search(len(list), func(i int) bool { return list[i].ts.After(now) }) // events at or before now
		lo := sort.Search(len(list), func(i int) bool { return list[i].ts.After(now.Add(-st.maxW)) })
		if lo >= hi {
			continue
		}
		vals := make([]any, len(v.Stream.Aggregations))
		for i, a := range v.Stream.Aggregations {
			vals[i] = aggregate(a, i, list[lo:hi], now)
		}
		out[k] = &tandem.OnlineRow{Key: key, EventTS: list[hi-1].ts, Values: encodeValues(nil, v, vals)}
	}
	return out
}

// aggregate computes one aggregation over events (sorted, all at or before
// now) in (now - window, now].
func aggregate(a Aggregation, i int, events []sevent, now time.Time) any {
	from := now.Add(-a.Window)
	start := sort.Search(len(events), func(j int) bool { return events[j].ts.After(from) })
	events = events[start:]
	switch a.Function {
	case "count":
		return int64(len(events))
	case "last_distinct":
		type seen struct {
			v string
			t time.Time
		}
		last := map[string]time.Time{}
		for _, e := range events {
			if e.has[i] && e.ts.After(last[e.str[i]]) {
				last[e.str[i]] = e.ts
			}
		}
		if len(last) == 0 {
			return nil
		}
		list := make([]seen, 0, len(last))
		for v, t := range last {
			list = append(list, seen{v, t})
		}
		sort.Slice(list, func(x, y int) bool {
			if !list[x].t.Equal(list[y].t) {
				return list[x].t.After(list[y].t)
			}
			return list[x].v < list[y].v
		})
		out := []string{}
		for j := 0; j < len(list) && j < a.N; j++ {
			out = append(out, list[j].v)
		}
		return out
	}
	n, sum := 0, 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, e := range events {
		if !e.has[i] {
			continue
		}
		x := e.num[i]
		n++
		sum += x
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if n == 0 {
		return nil
	}
	switch a.Function {
	case "sum":
		return sum
	case "mean":
		return sum / float64(n)
	case "min":
		return lo
	}
	return hi
}

// Follow reads the log from its start (what retention kept) and then as
// it grows, until ctx ends. Events older than the longest window of their
// view fall out as later ones arrive.
func (s *Streams) Follow(ctx context.Context, log tandem.EventLog) error {
	for {
		recs, err := log.Read(ctx, s.next, 10000)
		if err != nil {
			return err
		}
		for _, r := range recs {
			s.Apply(r.Data)
			s.next = r.Offset + 1
		}
		if len(recs) > 0 {
			continue
		}
		if err := log.Wait(ctx, s.next); err != nil {
			return nil
		}
	}
}
