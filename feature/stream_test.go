package feature

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/eventlog"
)

func streamView() *View {
	v := &View{Name: "activity", Keys: []string{"customer_id"}, Stream: &Stream{Event: "Product Viewed", Key: "user_id", Aggregations: []Aggregation{
		{Name: "views_1h", Function: "count", Window: time.Hour},
		{Name: "views_1d", Function: "count", Window: 24 * time.Hour},
		{Name: "spend_1d", Function: "sum", Column: "properties.price", Window: 24 * time.Hour},
		{Name: "price_mean_7d", Function: "mean", Column: "properties.price", Window: 7 * 24 * time.Hour},
		{Name: "price_min_1d", Function: "min", Column: "properties.price", Window: 24 * time.Hour},
		{Name: "price_max_1d", Function: "max", Column: "properties.price", Window: 24 * time.Hour},
		{Name: "last_products", Function: "last_distinct", Column: "properties.product_id", N: 3, Window: 7 * 24 * time.Hour},
	}}}
	for _, a := range v.Stream.Aggregations {
		v.Features = append(v.Features, Feature{Name: a.Name, Type: aggTypes[a.Function]})
	}
	v.Relation, v.Timestamp = `"events"."events"`, "timestamp"
	return v
}

// TestStreamingAgreesOnlineAndOffline replays a generated clickstream
// through the collector: online, the stream views follow the event log
// and are read at moments along the way; offline, the loader puts the
// same events in the warehouse and a training set asks for the same
// moments. Every value must agree.
func TestStreamingAgreesOnlineAndOffline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	log, err := eventlog.Open(filepath.Join(dir, "log"), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	plan, _ := collect.LoadPlan(dir) // no plan: every event allowed
	start := time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)
	c := &collect.Collector{Log: log, Plan: func() *collect.Plan { return plan }, Clock: func() time.Time { return start.Add(30 * 24 * time.Hour) }, Logger: quiet}
	v := streamView()
	reg := &Registry{Views: map[string]*View{"activity": v}}
	streams := NewStreams(reg)

	rng := rand.New(rand.NewSource(11))
	type moment struct {
		at   time.Time
		rows map[string]string // user -> online values
	}
	var moments []moment
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	at := start
	next := int64(0)
	for i := 0; i < 1500; i++ {
		at = at.Add(time.Duration(rng.Intn(20*60)) * time.Second).Add(time.Duration(rng.Intn(1000)) * time.Microsecond)
		props := fmt.Sprintf(`{"product_id": "p%d", "price": %d.%02d}`, rng.Intn(12), rng.Intn(50), rng.Intn(100))
		if i%9 == 0 {
			props = fmt.Sprintf(`{"product_id": "p%d"}`, rng.Intn(12)) // no price: only counted
		}
		name := "Product Viewed"
		if i%7 == 0 {
			name = "Product Clicked" // another event: not counted
		}
		msg := fmt.Sprintf(`{"type": "track", "messageId": "m%d", "userId": %q, "event": %q, "timestamp": %q, "properties": %s}`,
			i, users[rng.Intn(len(users))], name, at.Format(time.RFC3339Nano), props)
		if _, err := c.Collect(ctx, "web", "batch", []json.RawMessage{json.RawMessage(msg)}, "", nil); err != nil {
			t.Fatal(err)
		}
		// Online: follow the log as it grows.
		recs, _ := log.Read(ctx, next, 100)
		for _, r := range recs {
			streams.Apply(r.Data)
			next = r.Offset + 1
		}
		if i%25 == 24 {
			// A moment between this event and the next one.
			m := moment{at: at.Add(time.Duration(rng.Intn(600)) * time.Second), rows: map[string]string{}}
			rows := streams.Rows(v, users, m.at)
			for k, u := range users {
				m.rows[u] = onlineText(v, rows[k])
			}
			moments = append(moments, m)
			at = m.at
		}
	}

	// Offline: the loader puts the log in the warehouse; a training set
	// asks for each user at each moment.
	w := openWarehouse(t)
	l := collect.NewLoader(log, w, func() *collect.Plan { return plan })
	l.Logger = quiet
	if err := l.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < log.End(); {
		if off, err = l.LoadOnce(ctx, off); err != nil {
			t.Fatal(err)
		}
	}
	var ents []string
	for _, m := range moments {
		for _, u := range users {
			ents = append(ents, fmt.Sprintf("('%s', '%s'::TIMESTAMP)", u, m.at.Format("2006-01-02 15:04:05.999999")))
		}
	}
	exec(t, w, "create table ent (customer_id VARCHAR, event_timestamp TIMESTAMP)")
	exec(t, w, "insert into ent values "+strings.Join(ents, ","))
	s := &Store{Registry: reg, Warehouse: w}
	refs, _ := reg.ParseRefs([]string{"activity"})
	_, rows, err := s.Historical(ctx, &HistoricalRequest{Refs: refs, EntitiesSQL: "select * from ent"})
	if err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for i, r := range rows.Rows {
		m, u := moments[i/len(users)], users[i%len(users)]
		off := offlineText(v, r[2:])
		if off != m.rows[u] {
			t.Fatalf("%s at %s:\n online  %s\n offline %s", u, m.at.Format(time.RFC3339Nano), m.rows[u], off)
		}
		if i == 40 || i == 41 {
			t.Logf("%s at %s: %s", u, m.at.Format(time.RFC3339), off)
		}
		if !strings.HasPrefix(off, "views_1h=0 ") {
			nonzero++
		}
	}
	if len(rows.Rows) != len(moments)*len(users) || nonzero < len(rows.Rows)/4 {
		t.Fatalf("%d rows, %d with views in the last hour: the stream is too thin to show anything", len(rows.Rows), nonzero)
	}
}

// onlineText and offlineText print values the same way for comparison:
// floats to 9 significant digits (sums in another order differ in the last bits).
func onlineText(v *View, row *tandem.OnlineRow) string {
	vals := map[string]any{}
	if row != nil {
		json.Unmarshal(row.Values, &vals)
	}
	out := make([]any, len(v.Features))
	for i, f := range v.Features {
		out[i] = vals[f.Name]
		if f.Type == "int64" && out[i] == nil {
			out[i] = 0.0 // no event in the window: offline counts 0
		}
	}
	return valuesText(v, out)
}

func offlineText(v *View, row []any) string { return valuesText(v, row) }

func valuesText(v *View, vals []any) string {
	var parts []string
	for i, f := range v.Features {
		x := vals[i]
		var s string
		switch y := x.(type) {
		case nil:
			s = "NULL"
		case float64:
			s = fmt.Sprintf("%.9g", y)
			if y == math.Trunc(y) {
				s = fmt.Sprint(int64(y))
			}
		case []any:
			var items []string
			for _, it := range y {
				items = append(items, fmt.Sprint(it))
			}
			s = "[" + strings.Join(items, " ") + "]"
		default:
			var f float64
			if _, err := fmt.Sscan(fmt.Sprint(y), &f); err == nil {
				s = fmt.Sprintf("%.9g", f)
				if f == math.Trunc(f) {
					s = fmt.Sprint(int64(f))
				}
			} else {
				s = fmt.Sprint(y)
			}
		}
		parts = append(parts, f.Name+"="+s)
	}
	return strings.Join(parts, " ")
}
