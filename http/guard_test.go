package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandem-data/tandem"
)

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	c.Write(&d)
	return d.GetCounter().GetValue()
}

// TestGuardAnswersPanicsAndCountsCodes: a handler that panics is answered
// 500 (the connection is not dropped), logged and counted; every request is
// counted by route and code.
func TestGuardAnswersPanicsAndCountsCodes(t *testing.T) {
	m := NewMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { var p *struct{ x int }; _ = p.x })
	mux.HandleFunc("POST /v1/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
	var logs strings.Builder
	srv := guardedServer(t, m.Guard(mux, slog.New(slog.NewTextHandler(&logs, nil))), DefaultLimits())
	resp, err := http.Get(srv + "/boom")
	if err != nil {
		t.Fatalf("a panicking handler dropped the connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "internal error") {
		t.Errorf("panic answered %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "nil pointer dereference") {
		t.Errorf("the panic was not logged with its cause: %s", logs.String())
	}
	http.Post(srv+"/v1/track", "application/json", strings.NewReader("{}"))
	http.Post(srv+"/v1/nope", "application/json", strings.NewReader("{}"))
	if got := counterValue(m.Panics); got != 1 {
		t.Errorf("panics counted %v", got)
	}
	for _, c := range []struct{ route, code string }{{"/boom", "500"}, {"/v1/track", "400"}, {"/v1/other", "400"}} {
		if got := counterValue(m.Requests.WithLabelValues(map[bool]string{true: "GET", false: "POST"}[c.route == "/boom"], c.route, c.code)); got != 1 {
			t.Errorf("tandem_http_requests_total{route=%q,code=%q} = %v, want 1", c.route, c.code, got)
		}
	}
}

// TestLimitsCutSlowBodiesAndCapConnections: a body sent a byte at a time
// is cut at the read timeout, and connections beyond the cap wait.
func TestLimitsCutSlowBodiesAndCapConnections(t *testing.T) {
	lim := DefaultLimits()
	lim.ReadTimeout, lim.MaxConns = 1*time.Second, 3
	srv := guardedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		fmt.Fprint(w, "ok")
	}), lim)
	addr := strings.TrimPrefix(srv, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	closed := false
	for i := 0; i < 20; i++ { // a byte every 250 ms: 5 s if never cut
		if _, err := conn.Write([]byte("x")); err != nil {
			closed = true
			break
		}
		conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		// The server answering or closing both end the slow request.
		if n, err := conn.Read(make([]byte, 1)); n > 0 || err != nil && !isTimeout(err) {
			closed = true
			break
		}
	}
	if !closed || time.Since(start) > 3*time.Second {
		t.Errorf("a slow body held its connection for %s (closed: %v)", time.Since(start).Round(time.Millisecond), closed)
	}
	// Three idle connections take every slot; a fourth request waits
	// until one closes.
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_, err = bufio.NewReader(c).ReadString('\n')
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("a fourth connection was served beyond the cap of 3")
	case <-time.After(300 * time.Millisecond):
	}
	idle[0].Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
	for _, c := range idle[1:] {
		c.Close()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func guardedServer(t *testing.T, h http.Handler, lim Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, lim, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(Listener(ln, lim.MaxConns))
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestTokenRevokedElsewhereRefusedWithinASecond: a token deleted by
// another process (`tandem token revoke`) stops working within a second.
func TestTokenRevokedElsewhereRefusedWithinASecond(t *testing.T) {
	s, secrets := newTestServer(t)
	tok, secret, _ := NewToken("leaver", "viewer", time.Now())
	s.Meta.CreateToken(context.Background(), tok)
	if rec := do(s, "GET", "/api/v1/nodes", secret, ""); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if err := s.Meta.DeleteToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for do(s, "GET", "/api/v1/nodes", secret, "").Code != 401 {
		if time.Since(start) > time.Second {
			t.Fatal("a token revoked elsewhere still works after a second")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = secrets
}

// fullMeta is a metadata store on a full disk.
type fullMeta struct{ tandem.MetaStore }

func (fullMeta) FindRuns(context.Context, tandem.RunFilter) ([]*tandem.Run, error) {
	return nil, errors.New("insert into runs: database or disk is full (13)")
}

// TestFullDiskIs503: a full disk under the metadata store is answered 503
// with Retry-After, as the collector does, not 500.
func TestFullDiskIs503(t *testing.T) {
	s, secrets := newTestServer(t)
	s.Meta = fullMeta{s.Meta}
	rec := do(s, "GET", "/api/v1/runs", secrets["viewer"], "")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "disk is full") {
		t.Errorf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
