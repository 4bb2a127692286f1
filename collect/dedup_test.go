package collect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// acceptedIDs counts the accepted events in the log by message id.
func acceptedIDs(t *testing.T, f *fixture) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, env := range f.envelopes(t) {
		if env.Kind == "event" {
			out[env.Source+"/"+env.Event.MessageID]++
		}
	}
	return out
}

// TestConcurrentSendsStoreOneMessageOnce: 8 concurrent sends of each of 50
// message ids (singles and batches, in different orders), then a restart
// inside the window and the same again: one record per (source, messageId).
// Before the check and the remembering were one step, 8 x 50 gave 348 rows.
func TestConcurrentSendsStoreOneMessageOnce(t *testing.T) {
	f := newFixture(t, "")
	send := func() {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				var batch []string
				for i := 0; i < 50; i++ {
					id := (i + g*7) % 50 // each sender in its own order
					msg := fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d"}`, id, id)
					if g%2 == 0 {
						if code, _, raw := f.post(t, "/v1/identify", msg, false); code != 200 {
							t.Errorf("%d %s", code, raw)
						}
					} else {
						batch = append(batch, msg)
					}
				}
				if len(batch) > 0 {
					if code, _, raw := f.post(t, "/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`, false); code != 200 {
						t.Errorf("%d %s", code, raw)
					}
				}
			}(g)
		}
		wg.Wait()
	}
	check := func(when string) {
		ids := acceptedIDs(t, f)
		if len(ids) != 50 {
			t.Errorf("%s: %d distinct ids in the log, want 50", when, len(ids))
		}
		for id, n := range ids {
			if n != 1 {
				t.Errorf("%s: %s stored %d times", when, id, n)
			}
		}
	}
	send()
	check("8 concurrent senders")
	// A restart inside the window: a new collector rebuilds its window
	// from the log.
	f.now = f.now.Add(time.Hour)
	f.c.Dedup = NewDedup(7 * 24 * time.Hour)
	if err := f.c.Dedup.Rebuild(context.Background(), f.log, f.now); err != nil {
		t.Fatal(err)
	}
	send()
	check("after a restart")
	// The same id from another source is another message.
	f.c.keys = nil
	other := "wk_other"
	f.meta.CreateToken(context.Background(), &tandem.Token{ID: "k2", Name: "ios", Role: WriteKeyRole, Hash: hashKey(other), CreatedAt: f.now})
	f.key = other
	if code, resp, raw := f.post(t, "/v1/identify", `{"userId":"u1","messageId":"m1"}`, false); code != 200 || resp.Accepted != 1 {
		t.Errorf("m1 from another source: %d %s", code, raw)
	}
}

// TestReserveWaitsForTheHolder: a call that meets an id another call holds
// learns the outcome; an aborted claim leaves the id free.
func TestReserveWaitsForTheHolder(t *testing.T) {
	d := NewDedup(time.Hour)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := d.Reserve("web\x00m1", now)
	if a == nil {
		t.Fatal("a new id was not reserved")
	}
	if mine, other := d.Reserve("web\x00m1", now); mine != nil || other != a {
		t.Fatalf("a held id: mine %v other %v", mine, other)
	}
	d.Abort([]*Claim{a})
	if a.Wait() {
		t.Error("an aborted claim waited as appended")
	}
	b, _ := d.Reserve("web\x00m1", now)
	if b == nil {
		t.Fatal("an aborted id could not be reserved again")
	}
	d.Commit([]*Claim{b}, now)
	if !b.Wait() {
		t.Error("a committed claim waited as failed")
	}
	if mine, other := d.Reserve("web\x00m1", now.Add(time.Minute)); mine != nil || other != nil {
		t.Error("a committed id was not a duplicate")
	}
}

// TestRevokedKeyRefusedWithinASecond: a write key deleted from the
// metadata store (as the API, the UI and `tandem key revoke` do, from any
// process) is refused by a running collector within a second. It used to
// be cached until restart.
func TestRevokedKeyRefusedWithinASecond(t *testing.T) {
	f := newFixture(t, "")
	if code, _, raw := f.post(t, "/v1/identify", `{"userId":"u1"}`, false); code != 200 {
		t.Fatalf("%d %s", code, raw)
	}
	if err := f.meta.DeleteToken(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		code, _, _ := f.post(t, "/v1/identify", `{"userId":"u1"}`, false)
		if code == 401 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("a revoked key still answered %d after %s", code, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("refused %s after the revocation", time.Since(start).Round(time.Millisecond))
}
