// Package http is Tandem's HTTP API (JSON under /api/v1), its OpenAPI
// document, health endpoints and Prometheus metrics. It only translates
// between HTTP and the Platform: it never runs SQL or schedules itself.
package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/ml"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/schedule"
)

// Platform is what the API serves: implemented by tandem serve.
type Platform interface {
	Project() *project.Project
	Ready(ctx context.Context) error
	Preview(ctx context.Context, n *tandem.Node, limit int) (*tandem.Rows, error)
	StartRun(ctx context.Context, actor string, req *RunRequest) (*tandem.Run, error)
	TriggerJob(ctx context.Context, actor, name string) (*tandem.Run, error)
	StartBackfill(ctx context.Context, actor string, req *BackfillRequest) (*BackfillStatus, error)
	Backfill(ctx context.Context, id string) (*BackfillStatus, error)
	Freshness(ctx context.Context) []*schedule.FreshnessResult
	Jobs() []schedule.JobStatus
	// RunLog returns a run's log lines after the first `after`, and whether
	// the run has ended.
	RunLog(ctx context.Context, id string, after int) ([]LogLine, bool, error)
	Reload(ctx context.Context) error
	Alerts() []*schedule.Delivery
	// ReplayQuarantined loads the quarantined events that pass the current
	// tracking plan.
	ReplayQuarantined(ctx context.Context) (any, error)
	// Features is the feature store, nil when the project defines none.
	Features() *feature.Store
	// Models serves the production version of each model, nil when the
	// project declares none.
	Models() *ml.Server
	// TrainModel trains a new version of a model where the warehouse is
	// held, and with promote promotes it through the gate.
	TrainModel(ctx context.Context, actor, name string, promote bool) (*ml.Version, *ml.Verdict, error)
	// PromoteModel promotes a version through the gate (or forced, with
	// a reason); RollbackModel puts the previous production version back.
	// Both swap what is served at once.
	PromoteModel(ctx context.Context, actor, name string, version int, force bool, reason string) (*ml.Verdict, error)
	RollbackModel(ctx context.Context, actor, name, reason string) (from, to int, err error)
	// RollbackTable makes a kept earlier version of a table live again.
	RollbackTable(ctx context.Context, actor string, n *tandem.Node, version int) (*tandem.TableVersion, error)
	// Plan is the tracking plan, nil without events/*.yml.
	Plan() *collect.Plan
	// EventStats is the collector's traffic of the last minutes and its
	// quarantine.
	EventStats(ctx context.Context, minutes int) (*collect.Stats, error)
}

// RunRequest asks for a run.
type RunRequest struct {
	Command     string         `json:"command"` // build (default), run, seed, test
	Select      []string       `json:"select"`
	Exclude     []string       `json:"exclude"`
	FullRefresh bool           `json:"full_refresh"`
	Vars        map[string]any `json:"vars"`
}

// BackfillRequest asks for a backfill.
type BackfillRequest struct {
	Model string `json:"model"`
	Start string `json:"start"`
	End   string `json:"end"`
	Batch string `json:"batch"`
}

// BackfillStatus is a backfill and its intervals.
type BackfillStatus struct {
	ID        string             `json:"id"`
	Model     string             `json:"model"`
	Total     int                `json:"total"`
	Done      int                `json:"done"`
	RunID     string             `json:"run_id,omitempty"`
	Intervals []*tandem.Interval `json:"intervals"`
}

// LogLine is one line of a run's log.
type LogLine struct {
	N     int       `json:"n"`
	At    time.Time `json:"at"`
	Level string    `json:"level"`
	Node  string    `json:"node,omitempty"`
	Msg   string    `json:"msg"`
}

// Server is the HTTP API.
type Server struct {
	Platform Platform
	Meta     tandem.MetaStore
	Metrics  *Metrics
	Logger   *slog.Logger
	Clock    tandem.Clock // the platform clock: ages, freshness, recent runs (audit and sessions keep real time)
	mux      *http.ServeMux
	cache    *cache
	catalogs catalogCache
}

// Route is one endpoint and the role it needs ("" for none).
type Route struct {
	Method, Path, Role, Summary string
	handler                     func(s *Server, w http.ResponseWriter, r *http.Request, tok *tandem.Token) error
}

// Routes lists every endpoint; the OpenAPI document and the tests are
// generated from it, so none can be forgotten. (Set in init: the OpenAPI
// handler reads it.)
var Routes []Route

func init() { Routes = routes() }

func routes() []Route {
	return []Route{
		{"GET", "/healthz", "", "Alive", (*Server).healthz},
		{"GET", "/readyz", "", "Metadata store and warehouse reachable", (*Server).readyz},
		{"GET", "/metrics", tandem.RoleViewer, "Prometheus metrics", (*Server).metrics},
		{"GET", "/api/v1/openapi.json", tandem.RoleViewer, "This API, as OpenAPI 3", (*Server).openapi},
		{"GET", "/api/v1/nodes", tandem.RoleViewer, "List nodes (?kind=model&q=text)", (*Server).listNodes},
		{"GET", "/api/v1/nodes/{name}", tandem.RoleViewer, "One node with docs, columns, tests and lineage", (*Server).getNode},
		{"GET", "/api/v1/nodes/{name}/preview", tandem.RoleViewer, "Rows of a model or seed (?limit=10)", (*Server).previewNode},
		{"GET", "/api/v1/runs", tandem.RoleViewer, "Runs, newest first (?limit=&job=&status=)", (*Server).listRuns},
		{"POST", "/api/v1/runs", tandem.RoleEditor, "Start a run", (*Server).createRun},
		{"GET", "/api/v1/runs/{id}", tandem.RoleViewer, "One run with its nodes (?include=sql adds each node's compiled SQL)", (*Server).getRun},
		{"GET", "/api/v1/runs/{id}/logs", tandem.RoleViewer, "A run's log (?after=N; ?follow=1 streams NDJSON until it ends)", (*Server).runLogs},
		{"POST", "/api/v1/backfills", tandem.RoleEditor, "Start or resume a backfill", (*Server).createBackfill},
		{"GET", "/api/v1/backfills/{id}", tandem.RoleViewer, "A backfill and its intervals", (*Server).getBackfill},
		{"GET", "/api/v1/freshness", tandem.RoleViewer, "Freshness of every node with an SLA", (*Server).freshness},
		{"GET", "/api/v1/jobs", tandem.RoleViewer, "Scheduled jobs with their next run", (*Server).listJobs},
		{"POST", "/api/v1/jobs/{name}/trigger", tandem.RoleEditor, "Run a job now", (*Server).triggerJob},
		{"POST", "/api/v1/reload", tandem.RoleEditor, "Reload the project files", (*Server).reload},
		{"GET", "/api/v1/alerts", tandem.RoleViewer, "Open incidents and recent alert deliveries", (*Server).alerts},
		{"POST", "/api/v1/events/replay", tandem.RoleEditor, "Replay quarantined events that pass the current tracking plan", (*Server).replayEvents},
		{"GET", "/api/v1/features", tandem.RoleViewer, "Entities, feature views and feature services", (*Server).listFeatures},
		{"POST", "/api/v1/features/online", tandem.RoleViewer, "Latest feature values for entities (up to 1,000), with a status per value", (*Server).onlineFeatures},
		{"POST", "/get-online-features", tandem.RoleViewer, "Feast's feature server API: the same request and response", (*Server).feastOnlineFeatures},
		{"POST", "/api/v1/features/historical", tandem.RoleEditor, "A point-in-time-correct training set (rows, or entities_sql)", (*Server).historicalFeatures},
		{"POST", "/api/v1/features/materialize", tandem.RoleEditor, "Materialize feature views into the online store", (*Server).materializeFeatures},
		{"GET", "/api/v1/models", tandem.RoleViewer, "Models with their production versions", (*Server).listModels},
		{"GET", "/api/v1/models/{name}/recommend", tandem.RoleViewer, "Top k items for a user (?user=&k=&exclude_seen=&filter=), with the model version; unknown users get the fallback", (*Server).recommend},
		{"GET", "/api/v1/models/{name}/similar", tandem.RoleViewer, "Items similar to an item (?item=&k=&filter=)", (*Server).similar},
		{"POST", "/api/v1/models/{name}/train", tandem.RoleEditor, "Trains a new version (the candidate) in the server, which holds the warehouse; {\"promote\": true} promotes it if the gate passes", (*Server).trainModel},
		{"POST", "/api/v1/models/{name}/predict", tandem.RoleViewer, "Scores entities with a predictor, its features read from the online store; missing features or a timeout get the fallback, and each prediction says so", (*Server).predict},
		{"GET", "/api/v1/tokens", tandem.RoleAdmin, "API tokens (never their secrets)", (*Server).listTokens},
		{"POST", "/api/v1/tokens", tandem.RoleAdmin, "Create a token; its secret is shown once", (*Server).createToken},
		{"DELETE", "/api/v1/tokens/{id}", tandem.RoleAdmin, "Revoke a token", (*Server).deleteToken},
		{"GET", "/api/v1/audit", tandem.RoleAdmin, "Who changed what, when", (*Server).audit},
	}
}

// NewServer builds the routes.
func NewServer(p Platform, meta tandem.MetaStore, m *Metrics, logger *slog.Logger) *Server {
	s := &Server{Platform: p, Meta: meta, Metrics: m, Logger: logger, Clock: time.Now, mux: http.NewServeMux(), cache: newCache()}
	for _, rt := range Routes {
		rt := rt
		var observe func(float64)
		if s.Metrics != nil { // resolved once, not per request
			observe = s.Metrics.HTTP.WithLabelValues(rt.Method, rt.Path).Observe
		}
		s.mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			tok, err := s.authenticate(r, rt.Role)
			if err == nil {
				err = rt.handler(s, w, r, tok)
			}
			if err != nil {
				s.writeError(w, r, err)
			}
			if observe != nil {
				observe(time.Since(start).Seconds())
			}
		})
	}
	s.uiRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "no route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path))
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

var roleRank = map[string]int{tandem.RoleViewer: 1, tandem.RoleEditor: 2, tandem.RoleAdmin: 3}

// HashToken is how a token's secret is stored.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func (s *Server) authenticate(r *http.Request, role string) (*tandem.Token, error) {
	if role == "" {
		return nil, nil
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		// The web UI's session, in an HttpOnly, SameSite=Strict cookie. A
		// change it asks for must come from this site.
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "send a token: Authorization: Bearer <token> (create one with `tandem token create --role viewer`)")
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameSite(r) {
			return nil, tandem.Errorf(tandem.EFORBIDDEN, "a change from another site (Origin %s) is refused", r.Header.Get("Origin"))
		}
		_, tok, err := s.Meta.FindSession(r.Context(), HashToken(c.Value), time.Now())
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "the session ended (expired, signed out, or its token revoked); sign in again")
		} else if err != nil {
			return nil, err
		}
		return checkRole(tok, role)
	}
	tok, err := s.tokenFor(r, secret)
	if err != nil {
		return nil, err
	}
	return checkRole(tok, role)
}

func checkRole(tok *tandem.Token, role string) (*tandem.Token, error) {
	if roleRank[tok.Role] < roleRank[role] {
		return nil, tandem.Errorf(tandem.EFORBIDDEN, "this needs the %s role; token %q is a %s", role, tok.Name, tok.Role)
	}
	return tok, nil
}

// tokenFor finds the token of a secret (cached for a short while).
func (s *Server) tokenFor(r *http.Request, secret string) (*tandem.Token, error) {
	hash := HashToken(secret)
	tok := s.cache.token(hash, time.Now())
	if tok == nil {
		var err error
		tok, err = s.Meta.FindToken(r.Context(), hash)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "unknown or revoked token")
		} else if err != nil {
			return nil, err
		}
		s.cache.putToken(hash, tok, time.Now())
	}
	return tok, nil
}

// sameOrigin says whether a browser request comes from this site: its
// Origin header, when sent, names this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == "http://"+r.Host || o == "https://"+r.Host
}

// statusOf maps the error vocabulary to HTTP, in this one place.
var statusOf = map[string]int{
	tandem.EINVALID: http.StatusBadRequest, tandem.EUNAUTHORIZED: http.StatusUnauthorized, tandem.EFORBIDDEN: http.StatusForbidden,
	tandem.ENOTFOUND: http.StatusNotFound, tandem.ECONFLICT: http.StatusConflict, tandem.EUNAVAILABLE: http.StatusServiceUnavailable,
	tandem.EINTERNAL: http.StatusInternalServerError,
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	msg := err.Error()
	var te *tandem.Error
	switch {
	case errors.As(err, &te):
	case tandem.DiskFull(err):
		s.Logger.Error("the disk is full", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "the server's disk is full; retry later (the server log says which store)"
	default:
		// Internals are logged, not shown.
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details"
	}
	if code == tandem.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	if code == tandem.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
	}
	writeJSON(w, statusOf[code], map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// writeRaw sends JSON encoded before.
func writeRaw(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(b)
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tandem.Errorf(tandem.EINVALID, "request body: %v", err)
	}
	return nil
}

func actor(tok *tandem.Token) string {
	if tok == nil {
		return "anonymous"
	}
	return tok.Name + " (" + tok.ID + ")"
}

func (s *Server) record(ctx context.Context, tok *tandem.Token, action, target, detail string) error {
	return s.Meta.AddAudit(ctx, &tandem.AuditEntry{At: time.Now(), Actor: actor(tok), Action: action, Target: target, Detail: detail})
}
