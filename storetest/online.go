// Package storetest holds conformance suites for Tandem's ports: every
// implementation runs the same tests (the embedded ones here, Redis or
// Postgres ones later).
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// OnlineStore checks an online store. open returns a store on fresh,
// empty storage; reopen, when not nil, closes it and opens it again on
// the same storage (persistence).
func OnlineStore(t *testing.T, open func(t *testing.T) tandem.OnlineStore, reopen func(t *testing.T, s tandem.OnlineStore) tandem.OnlineStore) {
	ctx := context.Background()
	t0 := time.Date(2011, 6, 1, 12, 0, 0, 0, time.UTC)
	row := func(key string, ev, created time.Time, v string) tandem.OnlineRow {
		return tandem.OnlineRow{Key: key, EventTS: ev, Created: created, Values: []byte(v)}
	}
	get := func(t *testing.T, s tandem.OnlineStore, view string, keys ...string) []string {
		t.Helper()
		rows, err := s.Get(ctx, view, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(keys) {
			t.Fatalf("Get(%v) returned %d rows", keys, len(rows))
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			if r == nil {
				out[i] = "<nil>"
				continue
			}
			if r.Key != keys[i] {
				t.Fatalf("row %d has key %q, asked %q", i, r.Key, keys[i])
			}
			out[i] = fmt.Sprintf("%s@%s/%s", r.Values, r.EventTS.Format("15:04"), r.Created.Format("15:04"))
		}
		return out
	}
	want := func(t *testing.T, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}

	t.Run("PutGet", func(t *testing.T) {
		s := open(t)
		want(t, get(t, s, "v", "a"), "<nil>") // no view yet
		if err := s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0, `{"x":1}`), row("b\x1fc", t0, t0, `{"x":2}`)}); err != nil {
			t.Fatal(err)
		}
		want(t, get(t, s, "v", "b\x1fc", "zz", "a", "a"), `{"x":2}@12:00/12:00`, "<nil>", `{"x":1}@12:00/12:00`, `{"x":1}@12:00/12:00`)
		want(t, get(t, s, "other", "a"), "<nil>") // views do not share keys
	})
	t.Run("NewerWins", func(t *testing.T) {
		s := open(t)
		h := time.Hour
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0, "1")})
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0.Add(-h), t0.Add(h), "older event")}) // ignored
		want(t, get(t, s, "v", "a"), "1@12:00/12:00")
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0.Add(-h), "same event, created earlier")}) // ignored
		want(t, get(t, s, "v", "a"), "1@12:00/12:00")
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0.Add(h), "same event, created later")})
		want(t, get(t, s, "v", "a"), "same event, created later@12:00/13:00")
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0.Add(2*h), t0, "newer event")})
		want(t, get(t, s, "v", "a"), "newer event@14:00/12:00")
	})
	t.Run("Marks", func(t *testing.T) {
		s := open(t)
		if m, err := s.Mark(ctx, "v"); err != nil || !m.IsZero() {
			t.Fatalf("mark of a new view: %v %v", m, err)
		}
		s.SetMark(ctx, "v", t0)
		if m, _ := s.Mark(ctx, "v"); !m.Equal(t0) {
			t.Fatalf("mark %v, want %v", m, t0)
		}
		s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0, "1")})
		if err := s.DropView(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		want(t, get(t, s, "v", "a"), "<nil>")
		if m, _ := s.Mark(ctx, "v"); !m.IsZero() {
			t.Fatalf("mark after DropView: %v", m)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					s.Put(ctx, "v", []tandem.OnlineRow{row(fmt.Sprint(w), t0.Add(time.Duration(i)*time.Minute), t0, fmt.Sprint(i))})
					s.Get(ctx, "v", []string{fmt.Sprint((w + 1) % 4)})
				}
			}(w)
		}
		wg.Wait()
		want(t, get(t, s, "v", "0", "3"), "49@12:49/12:00", "49@12:49/12:00")
	})
	if reopen != nil {
		t.Run("Persists", func(t *testing.T) {
			s := open(t)
			s.Put(ctx, "v", []tandem.OnlineRow{row("a", t0, t0, "kept")})
			s.SetMark(ctx, "v", t0)
			s = reopen(t, s)
			want(t, get(t, s, "v", "a"), "kept@12:00/12:00")
			if m, _ := s.Mark(ctx, "v"); !m.Equal(t0) {
				t.Fatalf("mark after reopening: %v", m)
			}
		})
	}
}
