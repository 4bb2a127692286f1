package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandem-data/tandem"
)

// Alerter sends one alert when an incident opens and one recovery when it
// closes, to the owner's webhook (a Slack incoming webhook or anything that
// takes its JSON). Sending happens in the background with retries; a dead
// channel is logged, counted and shown, and never blocks the caller.
type Alerter struct {
	Store    tandem.IncidentStore
	Route    func(owner string) string // owner -> webhook URL; "" is none
	Client   *http.Client
	Attempts int
	Backoff  time.Duration
	Clock    tandem.Clock
	Logger   *slog.Logger
	// OnDelivery, when set, hears each outcome: sent, failed, dropped, unrouted.
	OnDelivery func(outcome string)

	queue  chan *Delivery
	mu     sync.Mutex
	recent []*Delivery
}

// Delivery is one message and what became of it.
type Delivery struct {
	Key      string    `json:"key"`
	Event    string    `json:"event"` // incident.opened or incident.resolved
	Owner    string    `json:"owner"`
	Text     string    `json:"text"`
	URL      string    `json:"-"`
	Outcome  string    `json:"outcome"` // queued, sent, failed, dropped, unrouted
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// NewAlerter returns an alerter; Run delivers.
func NewAlerter(store tandem.IncidentStore, route func(string) string) *Alerter {
	return &Alerter{
		Store: store, Route: route, Client: &http.Client{Timeout: 5 * time.Second},
		Attempts: 5, Backoff: time.Second, Clock: time.Now, Logger: slog.Default(),
		queue: make(chan *Delivery, 1000),
	}
}

// Raise opens the incident key unless it is open, and then alerts.
func (a *Alerter) Raise(ctx context.Context, key, owner, summary string) {
	opened, err := a.Store.OpenIncident(ctx, &tandem.Incident{Key: key, Owner: owner, Summary: summary, OpenedAt: a.Clock()})
	if err != nil {
		a.Logger.Error("cannot record incident", "key", key, "err", err)
		return
	}
	if opened {
		a.send(&Delivery{Key: key, Event: "incident.opened", Owner: owner, Text: ":red_circle: " + summary})
	}
}

// Resolve closes the incident key if it is open, and then sends a recovery.
func (a *Alerter) Resolve(ctx context.Context, key, summary string) {
	inc, err := a.Store.CloseIncident(ctx, key, a.Clock())
	if err != nil {
		a.Logger.Error("cannot record incident", "key", key, "err", err)
		return
	}
	if inc != nil {
		text := fmt.Sprintf(":large_green_circle: resolved after %s: %s (was: %s)", a.Clock().Sub(inc.OpenedAt).Round(time.Second), summary, inc.Summary)
		a.send(&Delivery{Key: key, Event: "incident.resolved", Owner: inc.Owner, Text: text})
	}
}

func (a *Alerter) send(d *Delivery) {
	d.At, d.URL, d.Outcome = a.Clock(), a.Route(d.Owner), "queued"
	if d.URL == "" {
		d.Outcome = "unrouted"
		a.Logger.Warn("no webhook for this owner: set alerts.owners or alerts.default_webhook in tandem.yaml", "owner", d.Owner, "key", d.Key)
		a.done(d)
		return
	}
	select {
	case a.queue <- d:
	default:
		d.Outcome = "dropped"
		a.Logger.Error("alert queue full; alert dropped", "key", d.Key)
		a.done(d)
	}
}

func (a *Alerter) done(d *Delivery) {
	a.mu.Lock()
	a.recent = append(a.recent, d)
	if len(a.recent) > 200 {
		a.recent = a.recent[len(a.recent)-200:]
	}
	a.mu.Unlock()
	if a.OnDelivery != nil {
		a.OnDelivery(d.Outcome)
	}
}

// Recent returns the latest deliveries, newest last.
func (a *Alerter) Recent() []*Delivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Delivery(nil), a.recent...)
}

// Run delivers queued alerts until ctx is done.
func (a *Alerter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-a.queue:
			a.deliver(ctx, d)
		}
	}
}

func (a *Alerter) deliver(ctx context.Context, d *Delivery) {
	body, _ := json.Marshal(map[string]any{
		"text":   d.Text,
		"tandem": map[string]any{"event": d.Event, "key": d.Key, "owner": d.Owner, "at": d.At.UTC().Format(time.RFC3339)},
	})
	backoff := a.Backoff
	for d.Attempts = 1; ; d.Attempts++ {
		err := a.post(ctx, d.URL, body)
		if err == nil {
			d.Outcome, d.Error = "sent", ""
			break
		}
		d.Error = err.Error()
		if d.Attempts >= max(a.Attempts, 1) || ctx.Err() != nil {
			d.Outcome = "failed"
			a.Logger.Error("alert not delivered; the scheduler goes on", "key", d.Key, "owner", d.Owner, "attempts", d.Attempts, "err", err)
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	a.done(d)
}

func (a *Alerter) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// RunAlerts raises or resolves the incidents a finished run speaks to: the
// job itself, and each error-severity test in it.
func (a *Alerter) RunAlerts(ctx context.Context, job *tandem.Job, run *tandem.Run, ownerOf func(node string) string, defaultOwner string) {
	name := job.Name
	if name == "" {
		name = "adhoc"
	}
	var failures []string
	owner := job.Owner
	for _, n := range run.Nodes {
		switch {
		case n.Kind == tandem.KindTest && n.Status == tandem.StatusFail:
			a.Raise(ctx, "test:"+n.Node, ownerOf(n.Node), fmt.Sprintf("test %s failed: %s (run %s)", shortName(n.Node), n.Message, run.ID))
		case n.Kind == tandem.KindTest && (n.Status == tandem.StatusSuccess || n.Status == tandem.StatusWarn):
			a.Resolve(ctx, "test:"+n.Node, fmt.Sprintf("test %s passes (run %s)", shortName(n.Node), run.ID))
		}
		if n.Status == tandem.StatusError || n.Status == tandem.StatusFail {
			failures = append(failures, fmt.Sprintf("%s %s: %s", n.Kind, shortName(n.Node), firstLine(n.Message)))
			if owner == "" {
				owner = ownerOf(n.Node)
			}
		}
	}
	if owner == "" {
		owner = defaultOwner
	}
	key := "job:" + name
	if run.Status == tandem.StatusSuccess {
		a.Resolve(ctx, key, fmt.Sprintf("job %s succeeded (run %s)", name, run.ID))
		return
	}
	summary := fmt.Sprintf("job %s failed (run %s)", name, run.ID)
	if len(failures) == 0 {
		summary += ": the run was interrupted"
	}
	for i, f := range failures {
		if i == 3 {
			summary += fmt.Sprintf("; and %d more", len(failures)-3)
			break
		}
		summary += "; " + f
	}
	a.Raise(ctx, key, owner, summary)
}

// FreshnessAlerts raises an incident per node in error, resolves the rest.
func (a *Alerter) FreshnessAlerts(ctx context.Context, results []*FreshnessResult) {
	for _, r := range results {
		key := "freshness:" + r.Node
		if r.Status == FreshError {
			a.Raise(ctx, key, r.Owner, fmt.Sprintf("%s %s is late: %s", r.Kind, r.Name, r.Message))
		} else {
			a.Resolve(ctx, key, fmt.Sprintf("%s %s is fresh again", r.Kind, r.Name))
		}
	}
}

func shortName(id string) string { return id[strings.LastIndex(id, ".")+1:] }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
