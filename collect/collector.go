package collect

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/jsonw"
)

// MaxSkew is the largest interval between a message's timestamp and its
// sentAt that the clock-skew correction applies (Go's time.Duration holds
// 292 years; past that, Sub saturates and the correction wrapped 9999-01-01
// to 1734). Segment's SDKs queue for days, not decades.
const MaxSkew = 100 * 365 * 24 * time.Hour

// absDuration is |a - b| without overflow: false saturation is caught by
// comparing the years first.
func absDuration(a, b time.Time) time.Duration {
	if y := a.Year() - b.Year(); y > 200 || y < -200 {
		return 1<<63 - 1
	}
	d := a.Sub(b)
	if d < 0 {
		return -d
	}
	return d
}

// Segment's limits.
const (
	MaxMessageBytes = 32 << 10
	MaxBatchBytes   = 500 << 10
)

// Event is a collected message, normalized.
type Event struct {
	MessageID   string    `json:"message_id"`
	Type        string    `json:"type"`
	Event       string    `json:"event,omitempty"` // track: the event; page and screen: the name
	UserID      string    `json:"user_id,omitempty"`
	AnonymousID string    `json:"anonymous_id,omitempty"`
	GroupID     string    `json:"group_id,omitempty"`
	PreviousID  string    `json:"previous_id,omitempty"`
	Timestamp   time.Time `json:"timestamp"` // corrected for the client's clock skew
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Properties, traits and context are kept as the compact JSON objects
	// the client sent; they are checked, never decoded into maps.
	Properties json.RawMessage `json:"properties,omitempty"`
	Traits     json.RawMessage `json:"traits,omitempty"`
	Context    json.RawMessage `json:"context,omitempty"`
}

// Envelope is one record of the event log: an accepted event, or a
// quarantined message with why.
type Envelope struct {
	Kind       string          `json:"kind"` // event or quarantine
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Event      *Event          `json:"event,omitempty"`
	Violations []Violation     `json:"violations,omitempty"`
	Raw        json.RawMessage `json:"raw,omitempty"`
}

// Collector serves the Segment HTTP tracking API.
type Collector struct {
	Log    tandem.EventLog
	Plan   func() *Plan
	Tokens tandem.TokenStore
	Clock  tandem.Clock
	Logger *slog.Logger
	Dedup  *Dedup
	// Behind, when set, says how many records the loader has yet to load;
	// beyond MaxBehind the collector answers 503 instead of accepting more.
	Behind    func() int64
	MaxBehind int64
	// OnCollect, when set, hears the outcome of every call (metrics).
	OnCollect func(accepted, quarantined, duplicates int)

	keyMu sync.Mutex
	keys  map[string]cachedKey // hash -> source, for KeyTTL
}

// KeyTTL bounds how long a write key stays cached: a key revoked through
// the API, the UI or the CLI (another process) is refused within it.
const KeyTTL = 500 * time.Millisecond

type cachedKey struct {
	source string
	at     time.Time // monotonic: the platform's clock may be shifted
}

// WriteKeyRole is the role of a source's write key in the token store;
// write keys open the collector and nothing else.
const WriteKeyRole = "writekey"

// Response is what a tracking call answers.
type Response struct {
	Success     bool        `json:"success"`
	Accepted    int         `json:"accepted"`
	Quarantined int         `json:"quarantined"`
	Duplicates  int         `json:"duplicates"`
	Errors      []ItemError `json:"errors,omitempty"`
}

// ItemError says which message of a batch was quarantined and why.
type ItemError struct {
	Index int `json:"index"`
	Violation
}

func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := strings.TrimPrefix(r.URL.Path, "/v1/")
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	switch kind {
	case "batch", "import", "track", "identify", "page", "screen", "group", "alias":
	default:
		fail(w, http.StatusNotFound, "no endpoint /v1/"+kind+"; use /v1/track, identify, page, screen, group, alias or batch")
		return
	}
	body, err := readBody(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if kind == "batch" || kind == "import" {
		if len(body) > MaxBatchBytes {
			fail(w, http.StatusBadRequest, fmt.Sprintf("batch is %d bytes; the limit is %d bytes (500 KB) per batch", len(body), MaxBatchBytes))
			return
		}
	} else if len(body) > MaxMessageBytes {
		fail(w, http.StatusBadRequest, fmt.Sprintf("message is %d bytes; the limit is %d bytes (32 KB) per message", len(body), MaxMessageBytes))
		return
	}
	body = loneSurrogates(body)
	p := parsers.Get()
	defer parsers.Put(p)
	var parsed *fastjson.Value
	perr := fastjson.ValidateBytes(body)
	if perr == nil {
		parsed, perr = p.ParseBytes(body)
	}
	source, err := c.source(r, parsed)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="tandem collect"`)
		fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	if perr != nil && (kind == "batch" || kind == "import") {
		fail(w, http.StatusBadRequest, "body is not a JSON batch {\"batch\": [...]}: "+perr.Error())
		return
	}
	if c.Behind != nil && c.MaxBehind > 0 && c.Behind() > c.MaxBehind {
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "the loader is too far behind; retry later")
		return
	}
	resp, err := c.collectParsed(r.Context(), source, kind, body, parsed)
	if err != nil {
		if tandem.ErrorCode(err) == tandem.EUNAVAILABLE {
			w.Header().Set("Retry-After", "5")
			fail(w, http.StatusServiceUnavailable, err.Error()+"; retry later")
			return
		}
		if tandem.ErrorCode(err) == tandem.EINVALID {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		fail(w, http.StatusInternalServerError, "internal error")
		c.Logger.Error("collect failed", "err", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"success": false, "error": msg})
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, 8*MaxBatchBytes)
	if strings.Contains(r.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("body says gzip but is not: %v", err)
		}
		rd = io.LimitReader(gz, MaxBatchBytes+1)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("cannot read the body: %v", err)
	}
	return b, nil
}

var parsers fastjson.ParserPool

// source finds the write key: HTTP Basic with the key as user name, or
// writeKey in the JSON body, which is what Segment's SDKs send.
func (c *Collector) source(r *http.Request, body *fastjson.Value) (string, error) {
	key, _, ok := r.BasicAuth()
	if (!ok || key == "") && body != nil {
		key = string(body.GetStringBytes("writeKey"))
	}
	if key == "" {
		return "", errors.New("send the source's write key as the HTTP Basic user name or as writeKey in the body (create one with `tandem key create --source NAME`)")
	}
	h := hashKey(key)
	now := time.Now()
	c.keyMu.Lock()
	ck, hit := c.keys[h]
	c.keyMu.Unlock()
	if hit && now.Sub(ck.at) < KeyTTL {
		return ck.source, nil
	}
	tok, err := c.Tokens.FindToken(r.Context(), h)
	if err != nil || tok.Role != WriteKeyRole {
		c.keyMu.Lock()
		delete(c.keys, h)
		c.keyMu.Unlock()
		return "", errors.New("unknown or revoked write key")
	}
	c.keyMu.Lock()
	if c.keys == nil || len(c.keys) > 10000 {
		c.keys = map[string]cachedKey{}
	}
	c.keys[h] = cachedKey{source: tok.Name, at: now}
	c.keyMu.Unlock()
	return tok.Name, nil
}

// Collect validates messages and appends them to the log, accepted or
// quarantined, in one durable append. sentAt and batchCtx are the batch's
// (empty and nil for a single call).
func (c *Collector) Collect(ctx context.Context, source, kind string, msgs []json.RawMessage, sentAt string, batchCtx json.RawMessage) (*Response, error) {
	items := make([]item, len(msgs))
	for i, raw := range msgs {
		items[i].raw = raw
		raw = loneSurrogates(raw)
		if len(raw) <= MaxMessageBytes && fastjson.ValidateBytes(raw) == nil {
			items[i].v, _ = fastjson.ParseBytes(raw)
		}
	}
	var bctx *fastjson.Value
	if len(batchCtx) > 0 {
		bctx, _ = fastjson.ParseBytes(batchCtx)
	}
	return c.collect(ctx, source, kind, items, sentAt, bctx)
}

// collectParsed collects a request body parsed as JSON (parsed is nil when
// it is not JSON: a single call is then quarantined as malformed).
func (c *Collector) collectParsed(ctx context.Context, source, kind string, body []byte, parsed *fastjson.Value) (*Response, error) {
	if kind != "batch" && kind != "import" {
		return c.collect(ctx, source, kind, []item{{v: parsed, raw: body}}, "", nil)
	}
	if parsed.Type() != fastjson.TypeObject {
		return nil, tandem.Errorf(tandem.EINVALID, "body is not a JSON batch {\"batch\": [...]}: it is a JSON %s", parsed.Type())
	}
	list := parsed.Get("batch")
	if list == nil || list.Type() != fastjson.TypeArray {
		return nil, tandem.Errorf(tandem.EINVALID, "body is not a JSON batch: \"batch\" must be an array of messages")
	}
	msgs, _ := list.Array()
	items := make([]item, len(msgs))
	for i, m := range msgs {
		items[i].v = m
	}
	bctx := parsed.Get("context")
	if bctx != nil && bctx.Type() != fastjson.TypeObject {
		bctx = nil
	}
	return c.collect(ctx, source, kind, items, string(parsed.GetStringBytes("sentAt")), bctx)
}

// item is one message: parsed (v, nil when it is not JSON) and, when
// known, as sent (raw).
type item struct {
	v   *fastjson.Value
	raw []byte
}

// CollectBody collects a /v1/<kind> request body: what the HTTP handler
// does after authentication. The in-process ceiling of `tandem bench
// collect` measures it.
func (c *Collector) CollectBody(ctx context.Context, source, kind string, body []byte) (*Response, error) {
	body = loneSurrogates(body)
	p := parsers.Get()
	defer parsers.Put(p)
	var parsed *fastjson.Value
	err := fastjson.ValidateBytes(body)
	if err == nil {
		parsed, err = p.ParseBytes(body)
	}
	if err != nil && (kind == "batch" || kind == "import") {
		return nil, tandem.Errorf(tandem.EINVALID, "body is not a JSON batch {\"batch\": [...]}: %v", err)
	}
	return c.collectParsed(ctx, source, kind, body, parsed)
}

func (c *Collector) collect(ctx context.Context, source, kind string, items []item, sentAt string, batchCtx *fastjson.Value) (*Response, error) {
	now := c.Clock().UTC()
	plan := c.Plan()
	resp := &Response{Success: true}
	records := make([][]byte, 0, len(items))
	inBatch := make(map[string]bool, len(items))
	// One buffer holds every record of the call; a record is a slice of it.
	buf := make([]byte, 0, 512*len(items))
	var batchCtxJSON []byte
	if batchCtx != nil {
		batchCtxJSON = jsonw.AppendValue(nil, batchCtx)
	}
	// The message ids this call reserved, and the messages whose id another
	// call holds until its append is durable: they are decided after this
	// call's own append (waiting before it could deadlock two batches).
	var claims []*Claim
	type held struct {
		env   *Envelope
		key   string
		other *Claim
	}
	var waiting []held
	add := func(i int, env *Envelope) {
		if len(env.Violations) > 0 {
			env.Kind = "quarantine"
			resp.Quarantined++
			for _, v := range env.Violations {
				resp.Errors = append(resp.Errors, ItemError{Index: i, Violation: v})
			}
		} else {
			// The normalized event holds what the warehouse loads.
			env.Kind = "event"
			resp.Accepted++
		}
		start := len(buf)
		buf = appendEnvelope(buf, env)
		records = append(records, buf[start:len(buf):len(buf)])
	}
	for i, it := range items {
		env := &Envelope{Source: source, ReceivedAt: now}
		if it.v == nil {
			env.Raw = rawOf(it.raw)
			env.Violations = []Violation{{Type: Malformed, Path: "", Message: "not a JSON object"}}
			add(i, env)
			continue
		}
		ev, v := normalize(it.v, kind, sentAt, batchCtxJSON, now)
		env.Event = ev
		// Segment's 32 KB per message; the message is encoded to
		// measure it only when its parts come near the limit.
		if ev == nil || ev.size() > MaxMessageBytes-1024 {
			if full := jsonw.AppendValue(nil, it.v); len(full) > MaxMessageBytes {
				if ev != nil {
					ev.Properties, ev.Traits, ev.Context = nil, nil, nil // the record keeps 1 KB of it, not 32
				}
				v = &Violation{Type: Malformed, Path: fmt.Sprintf("batch[%d]", i), Message: fmt.Sprintf("message is %d bytes; the limit is %d (32 KB)", len(full), MaxMessageBytes)}
				env.Raw = jsonw.AppendString(nil, string(full[:1024])+"...")
			}
		}
		if v != nil {
			env.Violations = []Violation{*v}
		} else if ev.Type == "track" {
			env.Violations = plan.Validate(ev.Event, it.v.Get("properties"))
		}
		if len(env.Violations) > 0 {
			if env.Raw == nil {
				// Quarantine keeps the message as sent: replay needs it.
				env.Raw = jsonw.AppendValue(nil, it.v)
			}
			add(i, env)
			continue
		}
		// At most one accepted message per (source, messageId) in the window.
		key := dedupKey(source, ev.MessageID)
		if inBatch[key] {
			resp.Duplicates++
			continue
		}
		inBatch[key] = true
		if c.Dedup != nil {
			mine, other := c.Dedup.Reserve(key, now)
			switch {
			case other != nil:
				waiting = append(waiting, held{env, key, other})
				continue
			case mine == nil:
				resp.Duplicates++
				continue
			}
			claims = append(claims, mine)
		}
		add(i, env)
	}
	for {
		if len(records) > 0 {
			if _, err := c.Log.Append(ctx, records); err != nil {
				c.Dedup.Abort(claims)
				return nil, err
			}
		}
		c.Dedup.Commit(claims, now)
		if len(waiting) == 0 {
			break
		}
		// Decide the held messages: a duplicate if the other call's append
		// made it, else this call appends it.
		records, claims = records[:0], claims[:0]
		var still []held
		for _, h := range waiting {
			if h.other.Wait() {
				resp.Duplicates++
				continue
			}
			mine, other := c.Dedup.Reserve(h.key, now)
			switch {
			case other != nil:
				h.other = other
				still = append(still, h)
			case mine == nil:
				resp.Duplicates++
			default:
				claims = append(claims, mine)
				add(-1, h.env)
			}
		}
		waiting = still
	}
	if c.OnCollect != nil {
		c.OnCollect(resp.Accepted, resp.Quarantined, resp.Duplicates)
	}
	return resp, nil
}

// dedupKey is what makes two messages the same: Segment's messageId is
// unique per source.
func dedupKey(source, messageID string) string { return source + "\x00" + messageID }

// size is about how many bytes the event's message took.
func (ev *Event) size() int {
	return len(ev.Properties) + len(ev.Traits) + len(ev.Context) + len(ev.MessageID) + len(ev.UserID) + len(ev.AnonymousID) +
		len(ev.GroupID) + len(ev.PreviousID) + len(ev.Event) + 200
}

// normalizeRaw is normalize for a message as JSON text.
func normalizeRaw(raw []byte, kind string, now time.Time) (*Event, *fastjson.Value, *Violation) {
	raw = loneSurrogates(raw)
	if fastjson.ValidateBytes(raw) != nil {
		return nil, nil, &Violation{Type: Malformed, Path: "", Message: "not a JSON object"}
	}
	v, err := fastjson.ParseBytes(raw)
	if err != nil {
		return nil, nil, &Violation{Type: Malformed, Path: "", Message: "not a JSON object"}
	}
	ev, bad := normalize(v, kind, "", nil, now)
	return ev, v, bad
}

// rawOf is a message that is not JSON, kept as a JSON string (cut at 32 KB).
func rawOf(raw []byte) json.RawMessage {
	if len(raw) > MaxMessageBytes {
		raw = raw[:MaxMessageBytes]
	}
	return jsonw.AppendString(nil, raw)
}

// idField reads a Segment id: a string, or a number (some clients send
// numeric user ids), kept as the client wrote it: 12347.9 stays 12347.9
// and 1e300 stays 1e300 (a conversion to an integer cut or wrapped them).
func idField(m *fastjson.Value, k string) string {
	v := m.Get(k)
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		return string(v.MarshalTo(nil))
	}
	return ""
}

// normalize reads a Segment message; a message that cannot be one is
// reported as malformed, with the field at fault.
func normalize(m *fastjson.Value, kind, batchSentAt string, batchCtx []byte, now time.Time) (*Event, *Violation) {
	if m.Type() != fastjson.TypeObject {
		return nil, &Violation{Type: Malformed, Path: "", Message: "not a JSON object"}
	}
	ev := &Event{Type: idField(m, "type"), MessageID: idField(m, "messageId"), UserID: idField(m, "userId"), AnonymousID: idField(m, "anonymousId"),
		GroupID: idField(m, "groupId"), PreviousID: idField(m, "previousId")}
	if kind != "batch" && kind != "import" {
		ev.Type = kind
	}
	switch ev.Type {
	case "track", "identify", "page", "screen", "group", "alias":
	case "":
		return ev, &Violation{Type: Malformed, Path: "type", Message: "type is missing (track, identify, page, screen, group or alias)"}
	default:
		return ev, &Violation{Type: Malformed, Path: "type", Message: fmt.Sprintf("type %q is not track, identify, page, screen, group or alias", ev.Type)}
	}
	if ev.UserID == "" && ev.AnonymousID == "" {
		return ev, &Violation{Type: Malformed, Path: "userId", Message: "userId or anonymousId is required"}
	}
	if ev.MessageID == "" {
		b := make([]byte, 16)
		rand.Read(b)
		ev.MessageID = "tandem-" + hex.EncodeToString(b)
	}
	for _, f := range []struct {
		name string
		dst  *json.RawMessage
	}{{"properties", &ev.Properties}, {"traits", &ev.Traits}, {"context", &ev.Context}} {
		if v := m.Get(f.name); v != nil && v.Type() != fastjson.TypeNull {
			if v.Type() != fastjson.TypeObject {
				return ev, &Violation{Type: Malformed, Path: f.name, Message: f.name + " must be an object"}
			}
			*f.dst = jsonw.AppendValue(nil, v)
		}
	}
	if ev.Context == nil && batchCtx != nil {
		ev.Context = batchCtx
	}
	switch ev.Type {
	case "track":
		ev.Event = idField(m, "event")
		if ev.Event == "" {
			return ev, &Violation{Type: Malformed, Path: "event", Message: "a track call needs an event name"}
		}
	case "page", "screen":
		ev.Event = idField(m, "name")
	case "group":
		if ev.GroupID == "" {
			return ev, &Violation{Type: Malformed, Path: "groupId", Message: "a group call needs a groupId"}
		}
	case "alias":
		if ev.PreviousID == "" {
			return ev, &Violation{Type: Malformed, Path: "previousId", Message: "an alias call needs a previousId"}
		}
	}
	parse := func(field, s string) (time.Time, *Violation) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, &Violation{Type: Malformed, Path: field, Message: fmt.Sprintf("%q is not an ISO 8601 timestamp", s)}
		}
		return t.UTC(), nil
	}
	tsText := idField(m, "timestamp")
	ts, v := parse("timestamp", tsText)
	if v != nil {
		return ev, v
	}
	sent := idField(m, "sentAt")
	if sent == "" {
		sent = batchSentAt
	}
	if ev.SentAt, v = parse("sentAt", sent); v != nil {
		return ev, v
	}
	// Segment's clock-skew correction: the client's clock may be off, its
	// intervals are not: timestamp = receivedAt - (sentAt - timestamp).
	// The rule at the edges (README.md, "Timestamps"): a timestamp
	// more than MaxSkew from sentAt is no interval a client measured, so it
	// is kept as sent, uncorrected; never a wrapped-around date.
	switch {
	case tsText == "": // 0001-01-01T00:00:00Z is a timestamp too
		ev.Timestamp = now
	case !ev.SentAt.IsZero() && absDuration(ev.SentAt, ts) <= MaxSkew:
		ev.Timestamp = now.Add(-ev.SentAt.Sub(ts))
	default:
		ev.Timestamp = ts
	}
	return ev, nil
}

// Dedup remembers message ids for a window (7 days by default) so a
// message sent twice is kept once. It is rebuilt from the log at start, so
// the window survives restarts.
//
// Memory is bounded: ids are kept as 64-bit hashes (a false "duplicate"
// needs a hash collision: about 1 in 10^10 at 10^5 ids), at most Max of
// them. When more arrive within the window, the oldest are forgotten and
// the effective window shrinks; Evicted counts them (a metric and a log).
type Dedup struct {
	mu      sync.Mutex
	Window  time.Duration
	Max     int
	seen    map[uint64]int64  // id hash -> minute received
	pending map[uint64]*Claim // ids reserved by a call whose append is not yet durable
	minutes []minuteIDs       // in arrival order, for eviction
	Evicted int64
}

// Claim is a message id reserved by one call until its append to the log
// is durable (Commit) or failed (Abort). Another call that meets the id
// meanwhile waits for the outcome instead of guessing: the check and the
// remembering are one step, so concurrent sends of one id (an SDK's retry
// racing its original) store it once.
type Claim struct {
	h    uint64
	done chan struct{}
	ok   bool
}

// Wait blocks until the claim's call appended (true) or failed (false).
func (c *Claim) Wait() bool {
	<-c.done
	return c.ok
}

// Reserve reserves id at now. It returns mine when id is new (the caller
// appends the message, then Commits or Aborts), neither when id was
// received within the window (a duplicate), and other when another call
// holds id: Wait for it, then Reserve again if it failed.
func (d *Dedup) Reserve(id string, now time.Time) (mine, other *Claim) {
	h := hashID(id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.seen[h]; ok && now.Sub(time.Unix(m*60, 0)) < d.Window {
		return nil, nil
	}
	if p := d.pending[h]; p != nil {
		return nil, p
	}
	if d.pending == nil {
		d.pending = map[uint64]*Claim{}
	}
	c := &Claim{h: h, done: make(chan struct{})}
	d.pending[h] = c
	return c, nil
}

// Commit remembers the claimed ids as received at t and wakes their waiters.
func (d *Dedup) Commit(cs []*Claim, t time.Time) {
	if d == nil || len(cs) == 0 {
		return
	}
	d.mu.Lock()
	for _, c := range cs {
		delete(d.pending, c.h)
		d.addLocked(c.h, t)
		c.ok = true
		close(c.done)
	}
	d.mu.Unlock()
}

// Abort forgets the claimed ids (their append failed) and wakes their waiters.
func (d *Dedup) Abort(cs []*Claim) {
	if d == nil || len(cs) == 0 {
		return
	}
	d.mu.Lock()
	for _, c := range cs {
		delete(d.pending, c.h)
		close(c.done)
	}
	d.mu.Unlock()
}

type minuteIDs struct {
	minute int64
	ids    []uint64
}

// NewDedup returns an empty window of at most 5 million ids (about 250 MB).
func NewDedup(window time.Duration) *Dedup {
	return &Dedup{Window: window, Max: 5_000_000, seen: map[uint64]int64{}}
}

// hashID is FNV-1a, 64 bits, inline (hash/fnv allocates per call).
func hashID(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// Seen reports whether id (a dedupKey) arrived within the window before now.
func (d *Dedup) Seen(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.seen[hashID(id)]
	return ok && now.Sub(time.Unix(m*60, 0)) < d.Window
}

// Add records id as received at t.
func (d *Dedup) Add(id string, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(hashID(id), t)
}

func (d *Dedup) addLocked(h uint64, t time.Time) {
	m := t.Unix() / 60
	if _, ok := d.seen[h]; ok {
		return
	}
	d.seen[h] = m
	if n := len(d.minutes); n == 0 || d.minutes[n-1].minute != m {
		d.minutes = append(d.minutes, minuteIDs{minute: m})
	}
	last := &d.minutes[len(d.minutes)-1]
	last.ids = append(last.ids, h)
	// Forget what left the window, then whatever exceeds Max, oldest first.
	for len(d.minutes) > 1 && (t.Sub(time.Unix(d.minutes[0].minute*60, 0)) >= d.Window || len(d.seen) > d.Max) {
		old := d.minutes[0]
		for _, id := range old.ids {
			if d.seen[id] == old.minute {
				delete(d.seen, id)
				if t.Sub(time.Unix(old.minute*60, 0)) < d.Window {
					d.Evicted++
				}
			}
		}
		d.minutes = d.minutes[1:]
	}
}

// Size is the number of ids remembered.
func (d *Dedup) Size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// Rebuild reads the accepted events of the log received within the
// window before now.
func (d *Dedup) Rebuild(ctx context.Context, log tandem.EventLog, now time.Time) error {
	for from := int64(0); ; {
		recs, err := log.Read(ctx, from, 10000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, r := range recs {
			var env struct {
				Kind       string    `json:"kind"`
				Source     string    `json:"source"`
				ReceivedAt time.Time `json:"received_at"`
				Event      struct {
					MessageID string `json:"message_id"`
				} `json:"event"`
			}
			if json.Unmarshal(r.Data, &env) == nil && env.Kind == "event" && now.Sub(env.ReceivedAt) < d.Window {
				d.Add(dedupKey(env.Source, env.Event.MessageID), env.ReceivedAt)
			}
		}
		from = recs[len(recs)-1].Offset + 1
	}
}
