package http

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	if err := s.Platform.Ready(r.Context()); err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "not ready: %v", err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	s.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

// nodeView is a node as the API shows it.
type nodeView struct {
	*tandem.Node
	Relation   string   `json:"relation,omitempty"`
	Tests      []string `json:"tests"`
	Upstream   []string `json:"upstream"`
	Downstream []string `json:"downstream"`
}

func (s *Server) view(n *tandem.Node) *nodeView {
	p := s.Platform.Project()
	v := &nodeView{Node: n, Upstream: append([]string{}, n.DependsOn...), Downstream: append([]string{}, p.Children[n.ID]...), Tests: []string{}}
	if n.Kind != tandem.KindTest {
		v.Relation = p.Relation(n).String()
	}
	for _, c := range p.Children[n.ID] {
		if p.Nodes[c].Kind == tandem.KindTest {
			v.Tests = append(v.Tests, c)
		}
	}
	sort.Strings(v.Tests)
	return v
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	p := s.Platform.Project()
	kind, q := r.URL.Query().Get("kind"), strings.ToLower(r.URL.Query().Get("q"))
	out := []map[string]any{}
	for _, id := range p.Order {
		n := p.Nodes[id]
		if kind != "" && string(n.Kind) != kind {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(n.Name+" "+n.Description+" "+n.Owner+" "+strings.Join(n.Tags, " ")), q) {
			continue
		}
		out = append(out, map[string]any{"id": n.ID, "kind": n.Kind, "name": n.Name, "materialized": n.Materialized,
			"owner": n.Owner, "tags": n.Tags, "path": n.Path, "description": n.Description})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
}

func (s *Server) findNode(name string) (*tandem.Node, error) {
	p := s.Platform.Project()
	if n, ok := p.Nodes[name]; ok {
		return n, nil
	}
	if n, ok := p.ByName(name); ok {
		return n, nil
	}
	for _, n := range p.Nodes { // tests and sources by name
		if n.Name == name {
			return n, nil
		}
	}
	msg := fmt.Sprintf("no node named %q", name)
	if near := p.NearestName(name); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "%s", msg)
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	p := s.Platform.Project()
	n, err := s.findNode(r.PathValue("name"))
	if err != nil {
		return err
	}
	if b := s.cache.node(p, n.ID); b != nil {
		return writeRaw(w, b)
	}
	b, err := json.Marshal(s.view(n))
	if err != nil {
		return err
	}
	s.cache.putNode(p, n.ID, append(b, '\n'))
	return writeRaw(w, b)
}

func intParam(r *http.Request, name string, def, maxV int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "?%s=%q is not a whole number", name, v)
	}
	return min(n, maxV), nil
}

func (s *Server) previewNode(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	n, err := s.findNode(r.PathValue("name"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 10, 1000)
	if err != nil {
		return err
	}
	rows, err := s.Platform.Preview(r.Context(), n, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rows)
}

// runFilter reads ?limit=&job=&status= (API and UI alike).
func runFilter(r *http.Request, defLimit int) (tandem.RunFilter, error) {
	limit, err := intParam(r, "limit", defLimit, 1000)
	if err != nil {
		return tandem.RunFilter{}, err
	}
	f := tandem.RunFilter{Limit: limit, Job: r.URL.Query().Get("job")}
	if st := r.URL.Query().Get("status"); st != "" {
		f.Statuses = []tandem.Status{tandem.Status(st)}
	}
	return f, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	f, err := runFilter(r, 20)
	if err != nil {
		return err
	}
	runs, err := s.Meta.FindRuns(r.Context(), f)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []*tandem.Run{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	var req RunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	run, err := s.Platform.StartRun(r.Context(), actor(tok), &req)
	if err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "run.create", run.ID, fmt.Sprintf("%s %s", run.Command, run.Args)); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/runs/"+run.ID)
	return writeJSON(w, http.StatusAccepted, run)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	// Compiled SQL is most of a run's size; it comes with ?include=sql.
	withSQL := r.URL.Query().Get("include") == "sql"
	key := r.PathValue("id")
	if withSQL {
		key += "?sql"
	}
	if b := s.cache.run(key); b != nil {
		return writeRaw(w, b)
	}
	run, err := s.Meta.FindRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !withSQL {
		for _, n := range run.Nodes {
			n.CompiledSQL = ""
		}
	}
	b, err := json.Marshal(run)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	s.cache.putRun(key, run, b)
	return writeRaw(w, b)
}

func (s *Server) runLogs(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	id := r.PathValue("id")
	after, err := intParam(r, "after", 0, 1<<30)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("follow") == "" {
		lines, done, err := s.Platform.RunLog(r.Context(), id, after)
		if err != nil {
			return err
		}
		if lines == nil {
			lines = []LogLine{}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"lines": lines, "done": done})
	}
	// Follow: stream lines as NDJSON until the run ends or the client goes.
	if _, _, err := s.Platform.RunLog(r.Context(), id, after); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	rc := http.NewResponseController(w)
	for {
		// A followed log outlives the server's write timeout by design.
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		lines, done, err := s.Platform.RunLog(r.Context(), id, after)
		if err != nil {
			return nil // the status line is sent; end the stream
		}
		for _, l := range lines {
			enc.Encode(l)
			after = l.N
		}
		if flusher != nil {
			flusher.Flush()
		}
		if done {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) createBackfill(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	var req BackfillRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	st, err := s.Platform.StartBackfill(r.Context(), actor(tok), &req)
	if err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "backfill.create", st.ID, fmt.Sprintf("%s %s..%s by %s", req.Model, req.Start, req.End, req.Batch)); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/backfills/"+st.ID)
	return writeJSON(w, http.StatusAccepted, st)
}

func (s *Server) getBackfill(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	st, err := s.Platform.Backfill(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) freshness(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	return writeJSON(w, http.StatusOK, map[string]any{"freshness": s.Platform.Freshness(r.Context())})
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	return writeJSON(w, http.StatusOK, map[string]any{"jobs": s.Platform.Jobs()})
}

func (s *Server) triggerJob(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	run, err := s.Platform.TriggerJob(r.Context(), actor(tok), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "job.trigger", r.PathValue("name"), run.ID); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/runs/"+run.ID)
	return writeJSON(w, http.StatusAccepted, run)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	if err := s.Platform.Reload(r.Context()); err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "project.reload", s.Platform.Project().Name, ""); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "nodes": len(s.Platform.Project().Nodes)})
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	open, err := s.Meta.Incidents(r.Context(), true)
	if err != nil {
		return err
	}
	if open == nil {
		open = []*tandem.Incident{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"open": open, "deliveries": s.Platform.Alerts()})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	toks, err := s.Meta.Tokens(r.Context())
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []*tandem.Token{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

// NewToken makes a token with a fresh secret; only the hash is kept.
func NewToken(name, role string, now time.Time) (*tandem.Token, string, error) {
	if roleRank[role] == 0 {
		return nil, "", tandem.Errorf(tandem.EINVALID, "role %q: use viewer, editor or admin", role)
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	secret := "tdm_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	id := make([]byte, 5)
	rand.Read(id)
	if name == "" {
		name = role
	}
	return &tandem.Token{ID: "tok_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id)), Name: name, Role: role,
		Hash: HashToken(secret), CreatedAt: now}, secret, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	t, secret, err := NewToken(req.Name, req.Role, time.Now())
	if err != nil {
		return err
	}
	if err := s.Meta.CreateToken(r.Context(), t); err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "token.create", t.ID, t.Name+" as "+t.Role); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": t, "secret": secret, "note": "the secret is shown once; store it now"})
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	if err := s.Meta.DeleteToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	s.cache.dropToken(r.PathValue("id"))
	if err := s.record(r.Context(), tok, "token.delete", r.PathValue("id"), ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	limit, err := intParam(r, "limit", 100, 10000)
	if err != nil {
		return err
	}
	entries, err := s.Meta.Audit(r.Context(), limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*tandem.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"audit": entries})
}

func (s *Server) replayEvents(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	res, err := s.Platform.ReplayQuarantined(r.Context())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	if err := s.record(r.Context(), tok, "events.replay", "quarantine", string(b)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
