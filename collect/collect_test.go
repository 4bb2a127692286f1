package collect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/eventlog"
	"github.com/tandem-data/tandem/sqlite"
)

const shopPlan = `unplanned: quarantine
events:
  - name: Product Viewed
    owner: web@shop.example
    additional_properties: false
    properties:
      product_id: {type: string, required: true}
      price: {type: number, minimum: 0}
      currency: {type: string, enum: [GBP, EUR, USD]}
      email: {type: string, format: email}
  - name: Order Completed
    properties:
      order_id: {type: string, required: true}
      products:
        type: array
        items:
          type: object
          required: [product_id]
          properties:
            product_id: {type: string}
            quantity: {type: integer, minimum: 1}
`

type fixture struct {
	dir  string
	log  *eventlog.Log
	c    *Collector
	srv  *httptest.Server
	key  string
	now  time.Time
	meta *sqlite.MetaStore
}

func newFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
		os.MkdirAll(filepath.Join(dir, "events"), 0o755)
		os.WriteFile(filepath.Join(dir, "events", "shop.yml"), []byte(shopPlan), 0o644)
	}
	plan, err := LoadPlan(dir)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	log, err := eventlog.Open(filepath.Join(dir, "log"), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, log: log, meta: meta, key: "wk_test", now: time.Date(2011, 6, 1, 12, 0, 0, 0, time.UTC)}
	meta.CreateToken(context.Background(), &tandem.Token{ID: "k1", Name: "web", Role: WriteKeyRole, Hash: hashKey(f.key), CreatedAt: f.now})
	f.c = &Collector{Log: log, Plan: func() *Plan { return plan }, Tokens: meta, Clock: func() time.Time { return f.now }, Logger: quiet, Dedup: NewDedup(7 * 24 * time.Hour)}
	if err := f.c.Dedup.Rebuild(context.Background(), log, f.now); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.c)
	t.Cleanup(func() { f.srv.Close(); log.Close(); meta.Close() })
	return f
}

func (f *fixture) post(t *testing.T, path, body string, gz bool) (int, *Response, string) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(body))
		w.Close()
		rd = &b
	}
	req, _ := http.NewRequest("POST", f.srv.URL+path, rd)
	req.SetBasicAuth(f.key, "")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r Response
	json.Unmarshal(raw, &r)
	return resp.StatusCode, &r, string(raw)
}

func (f *fixture) envelopes(t *testing.T) []Envelope {
	recs, err := f.log.Read(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []Envelope
	for _, r := range recs {
		var e Envelope
		if err := json.Unmarshal(r.Data, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestEachViolationIsQuarantinedWithItsPath(t *testing.T) {
	f := newFixture(t, "")
	good := `{"type": "track", "messageId": "m0", "anonymousId": "a1", "event": "Product Viewed", "properties": {"product_id": "85123A", "price": 2.55, "currency": "GBP"}}`
	cases := []struct {
		msg, vtype, path string
	}{
		{`{"type": "track", "messageId": "m1", "anonymousId": "a1", "event": "Wishlist Shared", "properties": {}}`, UnplannedEvent, "event"},
		{`{"type": "track", "messageId": "m2", "anonymousId": "a1", "event": "Product Viewed", "properties": {"price": 1}}`, RequiredMissing, "properties.product_id"},
		{`{"type": "track", "messageId": "m3", "anonymousId": "a1", "event": "Product Viewed", "properties": {"product_id": 85123}}`, TypeMismatch, "properties.product_id"},
		{`{"type": "track", "messageId": "m4", "anonymousId": "a1", "event": "Product Viewed", "properties": {"product_id": "x", "colour": "red"}}`, AdditionalProperty, "properties.colour"},
		{`{"type": "track", "messageId": "m5", "anonymousId": "a1", "event": "Product Viewed", "properties": {"product_id": "x", "currency": "JPY"}}`, InvalidValue, "properties.currency"},
		{`{"type": "track", "messageId": "m6", "anonymousId": "a1", "event": "Order Completed", "properties": {"order_id": "536365", "products": [{"product_id": "a", "quantity": 2}, {"quantity": 1.5}]}}`, RequiredMissing, "properties.products[1].product_id"},
		{`{"type": "track", "messageId": "m7", "event": "Product Viewed", "properties": {"product_id": "x"}}`, Malformed, "userId"},
		{`{"type": "track", "messageId": "m8", "anonymousId": "a1", "event": "Product Viewed", "timestamp": "yesterday", "properties": {"product_id": "x"}}`, Malformed, "timestamp"},
		{`"just a string"`, Malformed, ""},
	}
	msgs := []string{good}
	for _, c := range cases {
		msgs = append(msgs, c.msg)
	}
	code, resp, raw := f.post(t, "/v1/batch", `{"batch": [`+strings.Join(msgs, ",")+`]}`, false)
	if code != 200 || resp.Accepted != 1 || resp.Quarantined != len(cases) {
		t.Fatalf("%d %s", code, raw)
	}
	byIndex := map[int][]ItemError{}
	for _, e := range resp.Errors {
		byIndex[e.Index] = append(byIndex[e.Index], e)
	}
	envs := f.envelopes(t)
	if len(envs) != 1+len(cases) {
		t.Fatalf("%d records in the log", len(envs))
	}
	for i, c := range cases {
		found := false
		for _, e := range byIndex[i+1] {
			if e.Type == c.vtype && e.Path == c.path {
				found = true
			}
		}
		if !found {
			t.Errorf("message %d: response errors %+v, want %s at %q", i+1, byIndex[i+1], c.vtype, c.path)
		}
		env := envs[i+1]
		if env.Kind != "quarantine" || len(env.Violations) == 0 || env.Violations[0].Type != c.vtype || env.Source != "web" || !json.Valid(env.Raw) {
			t.Errorf("message %d in the log: %+v", i+1, env)
		}
	}
	// The type mismatch on products[1].quantity is reported too, with its path.
	var paths []string
	for _, e := range byIndex[6] {
		paths = append(paths, e.Type+" "+e.Path)
	}
	if strings.Join(paths, "; ") != "required_missing properties.products[1].product_id; type_mismatch properties.products[1].quantity" {
		t.Errorf("nested violations: %v", paths)
	}
	if envs[0].Kind != "event" || envs[0].Event.Event != "Product Viewed" || string(envs[0].Event.Properties) != `{"product_id":"85123A","price":2.55,"currency":"GBP"}` {
		t.Errorf("accepted event: %+v", envs[0])
	}
}

func TestSingleCallsLimitsGzipAndKeys(t *testing.T) {
	f := newFixture(t, "")
	code, resp, _ := f.post(t, "/v1/identify", `{"userId": "17850", "messageId": "i1", "traits": {"country": "United Kingdom"}}`, false)
	if code != 200 || resp.Accepted != 1 {
		t.Errorf("identify: %d %+v", code, resp)
	}
	code, resp, _ = f.post(t, "/v1/page", `{"anonymousId": "a", "name": "Home"}`, true)
	if code != 200 || resp.Accepted != 1 {
		t.Errorf("gzipped page: %d %+v", code, resp)
	}
	code, _, raw := f.post(t, "/v1/track", `{"anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "`+strings.Repeat("x", 33000)+`"}}`, false)
	if code != 400 || !strings.Contains(raw, "the limit is 32768 bytes (32 KB) per message") {
		t.Errorf("big message: %d %s", code, raw)
	}
	var big []string
	for i := 0; i < 60; i++ {
		big = append(big, `{"type": "page", "anonymousId": "a", "properties": {"pad": "`+strings.Repeat("y", 9000)+`"}}`)
	}
	code, _, raw = f.post(t, "/v1/batch", `{"batch": [`+strings.Join(big, ",")+`]}`, false)
	if code != 400 || !strings.Contains(raw, "the limit is 512000 bytes (500 KB) per batch") {
		t.Errorf("big batch: %d %s", code, raw)
	}
	// Segment's SDKs send the key in the body.
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/batch", strings.NewReader(`{"writeKey": "wk_test", "batch": [{"type": "page", "anonymousId": "a"}]}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("write key in the body: %v %v", resp.StatusCode, err)
	}
	f.key = "wk_wrong"
	if code, _, raw := f.post(t, "/v1/track", `{}`, false); code != 401 || !strings.Contains(raw, "unknown or revoked write key") {
		t.Errorf("wrong key: %d %s", code, raw)
	}
}

func TestDuplicatesDroppedAcrossRestartsAndClockSkewCorrected(t *testing.T) {
	f := newFixture(t, "")
	msg := `{"type": "track", "messageId": "dup-1", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "x"},
		"timestamp": "2011-06-01T11:00:00Z", "sentAt": "2011-06-01T11:00:10Z"}`
	if _, resp, _ := f.post(t, "/v1/batch", `{"batch": [`+msg+`,`+msg+`]}`, false); resp.Accepted != 1 || resp.Duplicates != 1 {
		t.Errorf("duplicate in one batch: %+v", resp)
	}
	// The client's clock was 1h off; the event happened 10 s before it was sent.
	if ev := f.envelopes(t)[0].Event; !ev.Timestamp.Equal(f.now.Add(-10 * time.Second)) {
		t.Errorf("corrected timestamp %v, want %v", ev.Timestamp, f.now.Add(-10*time.Second))
	}
	dir := f.dir
	f.srv.Close()
	f.log.Close()
	f.meta.Close()
	g := newFixture(t, dir) // a restart: the window is rebuilt from the log
	if _, resp, _ := g.post(t, "/v1/track", msg, false); resp.Duplicates != 1 || resp.Accepted != 0 {
		t.Errorf("duplicate after restart: %+v", resp)
	}
	g.now = g.now.Add(8 * 24 * time.Hour)
	if _, resp, _ := g.post(t, "/v1/track", msg, false); resp.Accepted != 1 {
		t.Errorf("after the window: %+v", resp)
	}
}

func TestPlanErrors(t *testing.T) {
	for plan, want := range map[string]string{
		"events:\n  - name: A\n    properties:\n      x: {type: strng}\n":                `events/p.yml:2: event "A": properties.x: unknown type "strng"`,
		"events:\n  - name: A\n  - name: A\n":                                            `events/p.yml:3: event "A" is planned twice (also events/p.yml:2)`,
		"unplanned: drop\n":                                                              `events/p.yml: unplanned: "drop"; use allow or quarantine`,
		"events:\n  - name: A\n    propertes: {}\n":                                      `events/p.yml: line 3: field propertes not found`,
		"events:\n  - name: A\n    properties:\n      e: {type: string, format: mail}\n": `unknown format "mail"`,
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "events"), 0o755)
		os.WriteFile(filepath.Join(dir, "events", "p.yml"), []byte(plan), 0o644)
		if _, err := LoadPlan(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", plan, err, want)
		}
	}
}

// diskFile fills up after limit bytes, as a full disk does.
type diskFile struct {
	*os.File
	limit *int64
}

func (d diskFile) Write(b []byte) (int, error) {
	st, _ := d.File.Stat()
	if room := *d.limit - st.Size(); int64(len(b)) > room {
		n, _ := d.File.Write(b[:max(room, 0)])
		return n, &os.PathError{Op: "write", Path: d.Name(), Err: errNoSpace}
	}
	return d.File.Write(b)
}

func TestFullDiskAnswers503AndCorruptsNothing(t *testing.T) {
	f := newFixture(t, "")
	f.log.Close()
	limit := int64(3000)
	logDir := filepath.Join(t.TempDir(), "log")
	log, err := eventlog.Open(logDir, eventlog.Options{OpenFile: func(name string, flag int, perm os.FileMode) (eventlog.File, error) {
		fl, err := os.OpenFile(name, flag, perm)
		return diskFile{File: fl, limit: &limit}, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.c.Log, f.log = log, log
	msg := func(id string) string {
		return `{"type": "track", "messageId": "` + id + `", "anonymousId": "a", "event": "Product Viewed", "properties": {"product_id": "85123A"}}`
	}
	accepted := 0
	var last int
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/batch", strings.NewReader(`{"batch": [`+msg("a"+string(rune('a'+i)))+`,`+msg("b"+string(rune('a'+i)))+`]}`))
		req.SetBasicAuth(f.key, "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = resp.StatusCode
		if resp.StatusCode == 200 {
			accepted += 2
			continue
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "disk full") {
			t.Fatalf("on a full disk: %d %s", resp.StatusCode, body)
		}
	}
	if last != 503 || accepted == 0 {
		t.Fatalf("accepted %d, last status %d", accepted, last)
	}
	log.Close()
	again, err := eventlog.Open(logDir, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	recs, _ := again.Read(context.Background(), 0, 1000)
	if len(recs) != accepted || len(again.Damage()) != 0 {
		t.Errorf("%d records after reopening (damage %v), want the %d acknowledged", len(recs), again.Damage(), accepted)
	}
}

func TestDedupMemoryIsBounded(t *testing.T) {
	d := NewDedup(7 * 24 * time.Hour)
	d.Max = 1000
	start := time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5000; i++ {
		d.Add(fmt.Sprintf("m%d", i), start.Add(time.Duration(i)*time.Second))
	}
	if d.Size() > 1000+60 { // the newest minute is never split
		t.Errorf("%d ids kept, max 1000", d.Size())
	}
	if !d.Seen("m4999", start.Add(5000*time.Second)) || d.Seen("m10", start.Add(5000*time.Second)) {
		t.Error("the newest ids must be kept and the oldest forgotten")
	}
	if d.Evicted == 0 {
		t.Error("evictions within the window are not counted")
	}
}
