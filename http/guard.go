package http

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits bound what one client can hold of a listener: a body sent a byte
// every few seconds, thousands of idle connections, or huge headers must
// not take the server down. tandem.yaml's serve.limits sets them.
type Limits struct {
	ReadHeaderTimeout time.Duration // the request line and headers (10s)
	ReadTimeout       time.Duration // the whole request, body included (30s)
	WriteTimeout      time.Duration // the response (60s; a followed run log extends its own)
	IdleTimeout       time.Duration // a kept-alive connection between requests (120s)
	MaxHeaderBytes    int           // 64 KB
	MaxConns          int           // open connections at once (1,000); more wait in the kernel's backlog
}

// DefaultLimits are the limits tandem serve uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, MaxConns: 1000}
}

// NewHTTPServer returns a server with the limits, on a listener that holds
// at most l.MaxConns connections (wrap it with Listener).
func NewHTTPServer(h http.Handler, l Limits, logger *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout,
		IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
}

// Listener caps the connections open at once at max: Accept waits for one
// to close (the rest queue in the kernel's backlog, then are refused).
func Listener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, max)}
}

type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Guard wraps the whole server: a panic in any handler is answered 500,
// logged with its stack and counted, instead of dropping the connection;
// every request is counted by route and status code.
func (m *Metrics) Guard(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("handler panicked; answered 500", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if m != nil {
					m.Panics.Inc()
				}
				if !sw.wrote {
					writeJSON(sw, http.StatusInternalServerError, map[string]any{"error": map[string]string{"code": "internal",
						"message": "internal error; the server log has the details"}})
				}
			}
			if m != nil {
				m.Requests.WithLabelValues(r.Method, routeOf(r), strconv.Itoa(sw.code())).Inc()
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeOf is the route a request matched, for a label of bounded
// cardinality: the mux's pattern, the collector's call, or "other".
func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	switch p {
	case "/v1/":
		switch k := strings.TrimPrefix(r.URL.Path, "/v1/"); k {
		case "batch", "import", "track", "identify", "page", "screen", "group", "alias":
			return "/v1/" + k
		}
		return "/v1/other"
	case "", "/":
		return "other"
	}
	return p
}

// statusWriter remembers the status code; Flush and Unwrap keep streaming
// and http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}
