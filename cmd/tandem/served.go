package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/ml"
)

// servedLog writes every answer the models serve to the event log, as
// Segment track events ("Recommendation Served", "Similar Items Served",
// "Prediction Served") from the source tandem-serving: through the
// collector, so they are checked against the tracking plan, appended
// durably and loaded into the warehouse like any event, where pipelines
// can join them with the clicks and purchases that followed.
//
// Answers are queued and written in batches off the request path: a
// request never waits for a disk sync. When the queue is full (the disk
// cannot keep up), the answer is still served and the event is counted
// as dropped (tandem_model_served_events_total{outcome="dropped"}).
type servedLog struct {
	ch        chan *ml.Served
	collector func() *collect.Collector
	outcomes  *prometheus.CounterVec
	logger    *slog.Logger
}

func newServedLog(collector func() *collect.Collector, reg prometheus.Registerer, logger *slog.Logger) *servedLog {
	l := &servedLog{ch: make(chan *ml.Served, 65536), collector: collector, logger: logger,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_model_served_events_total",
			Help: "Served model answers logged as events, by outcome (logged, dropped: the queue was full, failed: the log refused them)."}, []string{"outcome"})}
	reg.MustRegister(l.outcomes)
	return l
}

// add queues one answer; it never blocks.
func (l *servedLog) add(e *ml.Served) {
	select {
	case l.ch <- e:
	default:
		l.outcomes.WithLabelValues("dropped").Inc()
	}
}

var servedEvent = map[string]string{"recommend": "Recommendation Served", "similar": "Similar Items Served", "predict": "Prediction Served"}

// run writes queued answers every interval (or each 1,000) until ctx
// ends, then writes what is left.
func (l *servedLog) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	batch := make([]*ml.Served, 0, 1000)
	for {
		select {
		case e := <-l.ch:
			if batch = append(batch, e); len(batch) < cap(batch) {
				continue
			}
		case <-t.C:
		case <-ctx.Done():
			for {
				select {
				case e := <-l.ch:
					batch = append(batch, e)
					continue
				default:
				}
				break
			}
			l.write(batch)
			return
		}
		l.write(batch)
		batch = batch[:0]
	}
}

func (l *servedLog) write(batch []*ml.Served) {
	if len(batch) == 0 {
		return
	}
	msgs := make([]json.RawMessage, len(batch))
	for i, e := range batch {
		props := map[string]any{"endpoint": e.Endpoint, "model": e.Model, "version": e.Version}
		for k, v := range map[string]string{"requested": e.Requested, "fallback": e.Fallback, "item": e.Item} {
			if v != "" {
				props[k] = v
			}
		}
		if e.Endpoint == "predict" {
			props["score"] = e.Score
		} else {
			props["items"] = e.Items
		}
		m := map[string]any{"event": servedEvent[e.Endpoint], "timestamp": e.At.Format(time.RFC3339Nano), "properties": props}
		if e.User != "" {
			m["userId"] = e.User
		} else {
			m["anonymousId"] = "tandem-serving"
		}
		msgs[i], _ = json.Marshal(m)
	}
	c := l.collector()
	if c == nil {
		l.outcomes.WithLabelValues("failed").Add(float64(len(batch)))
		return
	}
	// Not the request's context: these answers were already given.
	if _, err := c.Collect(context.Background(), "tandem-serving", "track", msgs, "", nil); err != nil {
		l.outcomes.WithLabelValues("failed").Add(float64(len(batch)))
		l.logger.Error("served model answers could not be logged as events", "events", len(batch), "err", err)
		return
	}
	l.outcomes.WithLabelValues("logged").Add(float64(len(batch)))
}
