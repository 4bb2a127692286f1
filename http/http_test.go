package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/ml"
	"github.com/tandem-data/tandem/project"
	"github.com/tandem-data/tandem/schedule"
	"github.com/tandem-data/tandem/sqlite"
)

// testPlatform answers for the HTTP layer; tandem serve's own platform is
// tested end to end in cmd/tandem.
type testPlatform struct {
	runs []*RunRequest // what StartRun was asked
	p    *project.Project
	meta tandem.MetaStore
	fs   *feature.Store
	ms   *ml.Server
}

func (t *testPlatform) Project() *project.Project       { return t.p }
func (t *testPlatform) Ready(ctx context.Context) error { return nil }
func (t *testPlatform) Preview(ctx context.Context, n *tandem.Node, limit int) (*tandem.Rows, error) {
	return &tandem.Rows{Columns: []tandem.Column{{Name: "id"}}, Rows: [][]any{{1}}}, nil
}
func (t *testPlatform) StartRun(ctx context.Context, actor string, req *RunRequest) (*tandem.Run, error) {
	t.runs = append(t.runs, req)
	run := &tandem.Run{ID: "r-" + time.Now().Format("150405.000000000"), Command: "build", Status: tandem.StatusQueued, StartedAt: time.Now(), StartedBy: actor}
	return run, t.meta.CreateRun(ctx, run)
}
func (t *testPlatform) TriggerJob(ctx context.Context, actor, name string) (*tandem.Run, error) {
	if name != "hourly" {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no job %s", name)
	}
	return t.StartRun(ctx, actor, &RunRequest{})
}
func (t *testPlatform) StartBackfill(ctx context.Context, actor string, req *BackfillRequest) (*BackfillStatus, error) {
	return &BackfillStatus{ID: "bf-1", Model: req.Model}, nil
}
func (t *testPlatform) Backfill(ctx context.Context, id string) (*BackfillStatus, error) {
	return &BackfillStatus{ID: id}, nil
}
func (t *testPlatform) Freshness(ctx context.Context) []*schedule.FreshnessResult { return nil }
func (t *testPlatform) Jobs() []schedule.JobStatus                                { return nil }
func (t *testPlatform) RunLog(ctx context.Context, id string, after int) ([]LogLine, bool, error) {
	return []LogLine{{N: 1, Msg: "started"}}, true, nil
}
func (t *testPlatform) Reload(ctx context.Context) error { return nil }
func (t *testPlatform) Alerts() []*schedule.Delivery     { return nil }
func (t *testPlatform) Features() *feature.Store         { return t.fs }
func (t *testPlatform) Models() *ml.Server               { return t.ms }

// TrainModel stands in for training (which needs a warehouse and data):
// the route's token checks are what this package tests.
func (t *testPlatform) TrainModel(ctx context.Context, actor, name string, promote bool) (*ml.Version, *ml.Verdict, error) {
	return &ml.Version{Model: name, Version: 2}, nil, nil
}

func (t *testPlatform) PromoteModel(ctx context.Context, actor, name string, version int, force bool, reason string) (*ml.Verdict, error) {
	return &ml.Verdict{Pass: true}, nil
}
func (t *testPlatform) RollbackModel(ctx context.Context, actor, name, reason string) (int, int, error) {
	return 2, 1, nil
}
func (t *testPlatform) RollbackTable(ctx context.Context, actor string, n *tandem.Node, version int) (*tandem.TableVersion, error) {
	return &tandem.TableVersion{Node: n.ID, Version: version}, nil
}
func (t *testPlatform) Plan() *collect.Plan { return nil }
func (t *testPlatform) EventStats(ctx context.Context, minutes int) (*collect.Stats, error) {
	return &collect.Stats{Minutes: minutes}, nil
}

func (t *testPlatform) ReplayQuarantined(ctx context.Context) (any, error) {
	return map[string]int{"replayed": 0}, nil
}

func newTestServer(t testing.TB) (*Server, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dbt_project.yml"), []byte("name: p\nprofile: p\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "models/a.sql"), []byte("select 1 as id"), 0o644)
	p, err := project.Load(dir, project.Options{})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	fs := newFeatureStore(t)
	s := NewServer(&testPlatform{p: p, meta: meta, fs: fs, ms: newModelServer(t, fs)}, meta, NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	secrets := map[string]string{}
	for _, role := range []string{tandem.RoleViewer, tandem.RoleEditor, tandem.RoleAdmin} {
		tok, secret, err := NewToken(role+"-user", role, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := meta.CreateToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		secrets[role] = secret
	}
	meta.CreateRun(context.Background(), &tandem.Run{ID: "run-1", Command: "build", Status: tandem.StatusSuccess, StartedAt: time.Now()})
	return s, secrets
}

func do(s *Server, method, path, secret, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// example fills a route's path and body so that the call succeeds.
func example(t *testing.T, s *Server, secrets map[string]string, rt Route) (path, body string) {
	path = rt.Path
	path = strings.ReplaceAll(path, "{name}", map[bool]string{true: "hourly", false: "a"}[strings.Contains(path, "/jobs/")])
	path = strings.ReplaceAll(path, "{id}", map[bool]string{true: "bf-1", false: "run-1"}[strings.Contains(path, "/backfills/")])
	if strings.Contains(path, "/tokens/") {
		tok, _, _ := NewToken("doomed", "viewer", time.Now())
		s.Meta.CreateToken(context.Background(), tok)
		path = strings.ReplaceAll(path, "run-1", tok.ID)
	}
	switch rt.Method + " " + rt.Path {
	case "POST /api/v1/runs":
		body = `{"select": ["a"]}`
	case "POST /api/v1/backfills":
		body = `{"model": "a", "start": "2011-01-01", "end": "2011-01-02", "batch": "1d"}`
	case "POST /api/v1/tokens":
		body = `{"name": "ci", "role": "viewer"}`
	case "POST /api/v1/features/online":
		body = `{"features": ["driver_hourly_stats"], "entities": [{"driver_id": 1001}]}`
	case "POST /get-online-features":
		body = `{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}`
	case "POST /api/v1/features/historical":
		body = `{"entities_sql": "select 1001 as driver_id, now()::TIMESTAMP as event_timestamp", "feature_service": "driver_activity"}`
	case "GET /api/v1/models/{name}/recommend":
		path = "/api/v1/models/recs/recommend?user=u1&k=2"
	case "POST /api/v1/models/{name}/train":
		path = "/api/v1/models/recs/train"
	case "POST /api/v1/models/{name}/predict":
		path, body = "/api/v1/models/conv/predict", `{"entities": {"driver_id": [1001]}}`
	case "GET /api/v1/models/{name}/similar":
		path = "/api/v1/models/recs/similar?item=A"
	case "POST /api/v1/features/materialize":
		body = `{"incremental": true}`
	}
	return path, body
}

func TestEveryRouteChecksItsToken(t *testing.T) {
	s, secrets := newTestServer(t)
	lower := map[string]string{tandem.RoleEditor: tandem.RoleViewer, tandem.RoleAdmin: tandem.RoleEditor}
	for _, rt := range Routes {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			path, body := example(t, s, secrets, rt)
			if rt.Role != "" {
				if rec := do(s, rt.Method, path, "", body); rec.Code != 401 || !strings.Contains(rec.Body.String(), `"code":"unauthorized"`) || rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("no token: %d %s", rec.Code, rec.Body)
				}
				if rec := do(s, rt.Method, path, "tdm_wrong", body); rec.Code != 401 || !strings.Contains(rec.Body.String(), "unknown or revoked token") {
					t.Errorf("wrong token: %d %s", rec.Code, rec.Body)
				}
				if low, ok := lower[rt.Role]; ok {
					if rec := do(s, rt.Method, path, secrets[low], body); rec.Code != 403 || !strings.Contains(rec.Body.String(), `"code":"forbidden"`) {
						t.Errorf("%s token: %d %s", low, rec.Code, rec.Body)
					}
				}
			}
			rec := do(s, rt.Method, path, secrets[rt.Role], body)
			if rec.Code < 200 || rec.Code > 299 {
				t.Errorf("%s token: %d %s", rt.Role, rec.Code, rec.Body)
			}
		})
	}
}

func TestTokensAreStoredHashedAndWritesAudited(t *testing.T) {
	s, secrets := newTestServer(t)
	rec := do(s, "POST", "/api/v1/tokens", secrets["admin"], `{"name": "ana", "role": "editor"}`)
	var created struct {
		Token  tandem.Token
		Secret string
	}
	json.Unmarshal(rec.Body.Bytes(), &created)
	if rec.Code != 201 || !strings.HasPrefix(created.Secret, "tdm_") {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	toks, _ := s.Meta.Tokens(context.Background())
	for _, tok := range toks {
		if strings.Contains(tok.Hash, created.Secret) || len(tok.Hash) != 64 {
			t.Errorf("token %s stored as %q", tok.Name, tok.Hash)
		}
	}
	if strings.Contains(do(s, "GET", "/api/v1/tokens", secrets["admin"], "").Body.String(), created.Secret) {
		t.Error("the token list shows a secret")
	}
	if rec := do(s, "POST", "/api/v1/runs", created.Secret, `{}`); rec.Code != 202 {
		t.Errorf("the new editor token cannot start a run: %d", rec.Code)
	}
	// Revoking through the API works at once, cache or not.
	if rec := do(s, "DELETE", "/api/v1/tokens/"+created.Token.ID, secrets["admin"], ""); rec.Code != 204 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "GET", "/api/v1/nodes", created.Secret, ""); rec.Code != 401 {
		t.Errorf("a revoked token still works: %d", rec.Code)
	}
	audit := do(s, "GET", "/api/v1/audit", secrets["admin"], "").Body.String()
	for _, want := range []string{`"action":"token.create"`, `"actor":"ana (tok_`, `"action":"run.create"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s: %s", want, audit)
		}
	}
}

func TestErrorsShareOneVocabulary(t *testing.T) {
	s, secrets := newTestServer(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/api/v1/nodes/b", "", 404, `{"error":{"code":"not_found","message":"no node named \"b\"; did you mean \"a\"?"}}`},
		{"GET", "/api/v1/runs/nope", "", 404, `"code":"not_found"`},
		{"POST", "/api/v1/runs", `{"selct": ["a"]}`, 400, `{"error":{"code":"invalid","message":"request body: json: unknown field \"selct\""}}`},
		{"GET", "/api/v1/runs?limit=x", "", 400, `"message":"?limit=\"x\" is not a whole number"`},
		{"GET", "/api/v2/nodes", "", 404, `"message":"no route GET /api/v2/nodes; see /api/v1/openapi.json"`},
		{"POST", "/api/v1/tokens", `{"role": "root"}`, 400, `"message":"role \"root\": use viewer, editor or admin"`},
	} {
		secret := secrets["admin"]
		rec := do(s, tc.method, tc.path, secret, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
	var doc struct {
		Paths map[string]map[string]any
	}
	json.Unmarshal(do(s, "GET", "/api/v1/openapi.json", secrets["viewer"], "").Body.Bytes(), &doc)
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != len(Routes) {
		t.Errorf("OpenAPI has %d operations, the server %d routes", n, len(Routes))
	}
	if body := do(s, "GET", "/metrics", secrets["viewer"], "").Body.String(); !strings.Contains(body, "tandem_http_request_duration_seconds") {
		t.Errorf("metrics: %.300s", body)
	}
}
