package collect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem/duckdb"
)

// hostileStrings are every byte 0x00-0xFF (as a JSON escape where JSON
// wants one, raw otherwise) and the malformed UTF-8 sequences that break
// decoders: lone continuation bytes, truncated sequences, overlong forms,
// surrogates, code points past U+10FFFF, and lone UTF-16 surrogate escapes.
func hostileStrings() []string {
	var out []string
	for b := 0; b < 256; b++ {
		switch {
		case b < 0x20 || b == '"' || b == '\\':
			out = append(out, fmt.Sprintf(`a\u%04xb`, b))
		default:
			out = append(out, "a"+string([]byte{byte(b)})+"b")
		}
	}
	for _, seq := range [][]byte{
		{0x80}, {0xbf}, {0xc0, 0xaf}, {0xe0, 0x80, 0xaf}, {0xf0, 0x80, 0x80, 0xaf}, // overlong '/'
		{0xc3}, {0xe2, 0x82}, {0xf0, 0x9f, 0x98}, // truncated
		{0xed, 0xa0, 0x80}, {0xed, 0xbf, 0xbf}, // UTF-8-encoded surrogates
		{0xf4, 0x90, 0x80, 0x80}, {0xf8, 0x88, 0x80, 0x80, 0x80}, {0xfe}, {0xff}, // beyond U+10FFFF
	} {
		out = append(out, "a"+string(seq)+"b")
	}
	return append(out, `a\ud800b`, `a\udfffb`, `\udc00\ud800`, `a\u0000`, `\u0000`, "", `'; drop table events.events; --`)
}

// TestHostileBytesNeverStopTheLoader sends each hostile string in every
// string field of every Segment call type through the real collector, loads
// with the real loader into DuckDB, and checks that the loader reached the
// end of the log (lag 0) and that a valid event sent last is in the
// warehouse. Before the loader bound its values, one NUL byte in a
// quarantined event stopped loading for good.
func TestHostileBytesNeverStopTheLoader(t *testing.T) {
	f := newFixture(t, "")
	hostile := hostileStrings()
	calls := map[string][]string{
		"track":    {"userId", "anonymousId", "messageId", "event", "timestamp", "sentAt", "properties.product_id", "properties.k", "properties.$key", "context.ip", "context.page.url"},
		"identify": {"userId", "anonymousId", "messageId", "traits.email", "traits.$key", "context.locale"},
		"page":     {"userId", "anonymousId", "messageId", "name", "properties.url", "properties.$key"},
		"screen":   {"userId", "anonymousId", "messageId", "name", "properties.k"},
		"group":    {"userId", "messageId", "groupId", "traits.name"},
		"alias":    {"userId", "messageId", "previousId"},
	}
	sent := 0
	for _, typ := range []string{"track", "identify", "page", "screen", "group", "alias"} {
		for _, field := range calls[typ] {
			var batch []string
			for i, h := range hostile {
				m := map[string]string{"type": typ, "userId": "u1", "anonymousId": "a1", "messageId": fmt.Sprintf("%s-%s-%d", typ, field, i),
					"event": "Product Viewed", "name": "Home", "groupId": "g1", "previousId": "p1", "timestamp": "2011-06-01T11:00:00Z", "sentAt": "2011-06-01T11:00:01Z"}
				nested := map[string]map[string]string{"properties": {"product_id": "85123A"}, "traits": {}, "context": {}}
				if obj, key, ok := strings.Cut(field, "."); ok {
					if key == "$key" {
						nested[obj][h] = "v"
					} else {
						nested[obj][key] = h
					}
				} else {
					m[field] = h
				}
				var b strings.Builder
				b.WriteString("{")
				for _, k := range []string{"type", "userId", "anonymousId", "messageId", "event", "name", "groupId", "previousId", "timestamp", "sentAt"} {
					fmt.Fprintf(&b, `"%s":"%s",`, k, m[k])
				}
				for j, obj := range []string{"properties", "traits", "context"} {
					if j > 0 {
						b.WriteString(",")
					}
					fmt.Fprintf(&b, `"%s":{`, obj)
					first := true
					for k, v := range nested[obj] {
						if !first {
							b.WriteString(",")
						}
						first = false
						if k == "url" && obj == "context" {
							continue
						}
						fmt.Fprintf(&b, `"%s":"%s"`, k, v)
					}
					b.WriteString("}")
				}
				b.WriteString("}")
				batch = append(batch, b.String())
			}
			code, resp, raw := f.post(t, "/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`, false)
			if code != 200 {
				t.Fatalf("%s %s: %d %s", typ, field, code, raw)
			}
			sent += resp.Accepted + resp.Quarantined
		}
	}
	if code, _, raw := f.post(t, "/v1/track", `{"userId":"12347","event":"Product Viewed","properties":{"product_id":"last"},"messageId":"valid-last"}`, false); code != 200 {
		t.Fatalf("valid event: %d %s", code, raw)
	}
	w, l := f.loader(t)
	ctx := context.Background()
	next := int64(0)
	for next < f.log.End() {
		n, err := l.LoadOnce(ctx, next)
		if err != nil {
			t.Fatalf("loader stopped at offset %d: %v", next, err)
		}
		next = n
	}
	if lag := f.log.End() - next; lag != 0 {
		t.Fatalf("loader lag %d, want 0", lag)
	}
	if got := count(t, w, "select count(*) from events.product_viewed where message_id = 'valid-last' and product_id = 'last'"); got != "1" {
		t.Errorf("the valid event sent last: %s rows in events.product_viewed, want 1", got)
	}
	got := count(t, w, `select (select count(*) from events.events) + (select count(*) from events.quarantine) + (select count(*) from events.dead_letter)`)
	if want := fmt.Sprint(f.log.End()); got != want {
		t.Errorf("events + quarantine + dead letters = %s, want every record of the log (%s)", got, want)
	}
	if got := count(t, w, "select count(*) from events.events where event = 'Bad' or message_id like 'track-event-%' and event not like 'a%b'"); got != "0" {
		t.Errorf("an event name was cut at a NUL byte: %s rows", got)
	}
	t.Logf("%d hostile messages, %d records loaded", sent, next)
}

// TestPoisonRecordGoesToDeadLetter: a record the warehouse refuses goes to
// the dead-letter table with the database's error and its offset; the
// records around it are loaded and the loader moves on.
func TestPoisonRecordGoesToDeadLetter(t *testing.T) {
	f := newFixture(t, "")
	var batch []string
	for i := 0; i < 40; i++ {
		user := fmt.Sprintf("u%d", i)
		if i == 17 || i == 31 {
			user = "poison"
		}
		batch = append(batch, fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"m%d"}`, user, i))
	}
	if code, _, raw := f.post(t, "/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`, false); code != 200 {
		t.Fatal(raw)
	}
	// A record that is not JSON at all, written to the log by hand.
	if _, err := f.log.Append(context.Background(), [][]byte{[]byte("not json \x00")}); err != nil {
		t.Fatal(err)
	}
	w, err := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	// The warehouse refuses one user id: a constraint the loader does not know.
	if _, err := w.Exec(ctx, `create schema events; create table events.events (message_id VARCHAR, "offset" BIGINT, source VARCHAR,
		user_id VARCHAR check (user_id <> 'poison'), anonymous_id VARCHAR, "timestamp" TIMESTAMPTZ, received_at TIMESTAMPTZ, sent_at TIMESTAMPTZ,
		context JSON, type VARCHAR, event VARCHAR, group_id VARCHAR, previous_id VARCHAR, properties JSON, traits JSON)`); err != nil {
		t.Fatal(err)
	}
	l := NewLoader(f.log, w, f.c.Plan)
	l.Logger = f.c.Logger
	var heard []int64
	l.OnDeadLetter = func(offset int64, reason string) { heard = append(heard, offset) }
	if err := l.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := l.LoadOnce(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next != 41 {
		t.Errorf("next offset %d, want 41", next)
	}
	if got := count(t, w, "select count(*) from events.events"); got != "38" {
		t.Errorf("events loaded: %s, want 38", got)
	}
	if got := count(t, w, `select string_agg("offset"::VARCHAR || ':' || split_part(error, ':', 1), ',' order by "offset") from events.dead_letter`); got != "17:Constraint Error,31:Constraint Error,40:unreadable record" {
		t.Errorf("dead letters: %s", got)
	}
	if got := count(t, w, `select count(*) from events.dead_letter where "offset" = 40 and record = 'not json \x00'::BLOB`); got != "1" {
		t.Errorf("the unreadable record was not kept byte for byte: %s", got)
	}
	if fmt.Sprint(heard) != "[40 17 31]" && fmt.Sprint(heard) != "[17 31 40]" {
		t.Errorf("OnDeadLetter heard %v", heard)
	}
}

// TestOversizedNonObjectItemCostsNothingElse: a batch item that is not an
// object and is over 32 KB used to panic the handler (no answer, and the
// valid events of the batch lost on every retry).
func TestOversizedNonObjectItemCostsNothingElse(t *testing.T) {
	f := newFixture(t, "")
	big := strings.Repeat("x", 40000)
	code, resp, raw := f.post(t, "/v1/batch", `{"batch":["`+big+`", {"type":"identify","userId":"u1","messageId":"good"}, [1,2], 7]}`, false)
	if code != 200 || resp.Accepted != 1 || resp.Quarantined != 3 {
		t.Fatalf("%d %.300s", code, raw)
	}
	if resp.Errors[0].Index != 0 || !strings.Contains(resp.Errors[0].Message, "limit is 32768") {
		t.Errorf("the oversized item: %+v", resp.Errors[0])
	}
}

// TestIdsAndTimestampsAsSent: numeric ids keep the client's text, and the
// clock-skew correction never wraps a date around.
func TestIdsAndTimestampsAsSent(t *testing.T) {
	f := newFixture(t, "")
	for _, c := range []struct{ body, user, ts string }{
		{`{"userId":1e300,"messageId":"n1"}`, "1e300", "2011-06-01T12:00:00Z"},
		{`{"userId":12347.9,"messageId":"n2"}`, "12347.9", "2011-06-01T12:00:00Z"},
		{`{"userId":12347,"messageId":"n3"}`, "12347", "2011-06-01T12:00:00Z"},
		{`{"userId":"-0","messageId":"n4"}`, "-0", "2011-06-01T12:00:00Z"},
		// 9999 sent in 0002: no interval a client measured; kept as sent.
		{`{"userId":"u","messageId":"t1","timestamp":"9999-01-01T00:00:00Z","sentAt":"0002-01-01T00:00:00Z"}`, "u", "9999-01-01T00:00:00Z"},
		{`{"userId":"u","messageId":"t2","timestamp":"0001-01-01T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}`, "u", "0001-01-01T00:00:00Z"},
		{`{"userId":"u","messageId":"t3","timestamp":"9999-12-31T23:59:59Z"}`, "u", "9999-12-31T23:59:59Z"},
		// 50 years apart, the client a day slow: corrected.
		{`{"userId":"u","messageId":"t4","timestamp":"1961-06-01T12:00:00Z","sentAt":"2011-05-31T12:00:00Z"}`, "u", "1961-06-02T12:00:00Z"},
		// An ordinary skew: the client's clock is 10 minutes fast.
		{`{"userId":"u","messageId":"t5","timestamp":"2011-06-01T12:09:00Z","sentAt":"2011-06-01T12:10:00Z"}`, "u", "2011-06-01T11:59:00Z"},
	} {
		if code, resp, raw := f.post(t, "/v1/identify", c.body, false); code != 200 || resp.Accepted != 1 {
			t.Errorf("%s: %d %s", c.body, code, raw)
		}
	}
	got := map[string]string{}
	for _, env := range f.envelopes(t) {
		got[env.Event.MessageID] = env.Event.UserID + " " + env.Event.Timestamp.Format(time.RFC3339)
	}
	for i, c := range []struct{ id, want string }{
		{"n1", "1e300 2011-06-01T12:00:00Z"}, {"n2", "12347.9 2011-06-01T12:00:00Z"}, {"n3", "12347 2011-06-01T12:00:00Z"}, {"n4", "-0 2011-06-01T12:00:00Z"},
		{"t1", "u 9999-01-01T00:00:00Z"}, {"t2", "u 0001-01-01T00:00:00Z"}, {"t3", "u 9999-12-31T23:59:59Z"}, {"t4", "u 1961-06-02T12:00:00Z"}, {"t5", "u 2011-06-01T11:59:00Z"},
	} {
		if got[c.id] != c.want {
			t.Errorf("%d %s: %q, want %q", i, c.id, got[c.id], c.want)
		}
	}
	// And the warehouse holds them as such.
	w, l := f.loader(t)
	ctx := context.Background()
	if _, err := l.LoadOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := count(t, w, `select string_agg(user_id || '@' || strftime("timestamp" at time zone 'UTC', '%Y-%m-%d'), ' ' order by message_id) from events.events`); got != "1e300@2011-06-01 12347.9@2011-06-01 12347@2011-06-01 -0@2011-06-01 u@9999-01-01 u@0001-01-01 u@9999-12-31 u@1961-06-02 u@2011-06-01" {
		t.Errorf("warehouse: %s", got)
	}
}

// loader is a prepared loader from the fixture's log into a new warehouse.
func (f *fixture) loader(t *testing.T) (*duckdb.Warehouse, *Loader) {
	t.Helper()
	w, err := duckdb.Open(filepath.Join(t.TempDir(), "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	l := NewLoader(f.log, w, f.c.Plan)
	l.Logger = f.c.Logger
	if err := l.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w, l
}
