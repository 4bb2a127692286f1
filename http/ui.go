package http

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/ml"
	"github.com/tandem-data/tandem/schedule"
)

// The web UI: pages rendered on the server from the same data as the API
// (readable without JavaScript), its assets embedded in the binary. A
// visitor signs in with an API token and gets a server-side session: the
// HttpOnly, SameSite=Strict cookie holds a random id (the store keeps its
// hash), which expires after SessionTTL, ends at sign-out and with its
// token. Each page checks the token's role as the API does.

//go:embed ui
var uiFiles embed.FS

// sessionCookie holds the id of a visitor's session (never the token).
const sessionCookie = "tandem_session"

// SessionTTL is how long a web UI session lasts.
const SessionTTL = 12 * time.Hour

var uiFuncs = template.FuncMap{
	"kindLabel": kindLabel,
	"histogram": histogram,
	"dur": func(d time.Duration) string {
		switch {
		case d >= time.Minute:
			return d.Round(time.Second).String()
		case d >= time.Second:
			return d.Round(10 * time.Millisecond).String()
		}
		return d.Round(time.Millisecond).String()
	},
	// age says how old something is, in the unit that reads best.
	"age": func(d time.Duration) string {
		switch {
		case d <= 0:
			return ""
		case d >= 48*time.Hour:
			return fmt.Sprintf("%d days", int(d.Hours()/24))
		case d >= 2*time.Hour:
			return fmt.Sprintf("%d hours", int(d.Hours()))
		}
		return d.Round(time.Minute).String()
	},
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"took": func(r *tandem.Run) string {
		if r.EndedAt.IsZero() {
			return ""
		}
		return r.EndedAt.Sub(r.StartedAt).Round(10 * time.Millisecond).String()
	},
	"failedNodes": func(r *tandem.Run) string {
		var out []string
		for _, n := range r.Nodes {
			if n.Status == tandem.StatusError || n.Status == tandem.StatusFail {
				out = append(out, n.Node)
			}
		}
		return strings.Join(out, ", ")
	},
}

// uiPages are parsed once: each page is the layout with its content.
var uiPages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, page := range []string{"login", "home", "models", "model", "catalog", "node", "lineage", "runs", "run", "events", "features", "feature_view"} {
		out[page] = template.Must(template.New(page).Funcs(uiFuncs).ParseFS(uiFiles, "ui/layout.html", "ui/"+page+".html"))
	}
	return out
}()

// uiRoutes are the pages, with the role each needs.
func (s *Server) uiRoutes() {
	page := func(pattern, role string, h func(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			tok, err := s.authenticate(r, role)
			if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED {
				next := r.URL.RequestURI()
				if r.Method != http.MethodGet { // an action: come back to the page, not to the action
					next = "/"
					if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
						next = safeNext(ref.RequestURI())
					}
				}
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			if err == nil {
				err = h(w, r, tok)
			}
			if err != nil {
				s.uiError(w, r, tok, err)
			}
		})
	}
	page("GET /{$}", tandem.RoleViewer, s.uiHome)
	page("GET /ui/models", tandem.RoleViewer, s.uiModels)
	page("GET /ui/models/{name}", tandem.RoleViewer, s.uiModel)
	page("POST /ui/models/{name}/promote", tandem.RoleEditor, s.uiPromoteModel)
	page("POST /ui/models/{name}/rollback", tandem.RoleEditor, s.uiRollbackModel)
	page("GET /ui/catalog", tandem.RoleViewer, s.uiCatalog)
	page("GET /ui/nodes/{id}", tandem.RoleViewer, s.uiNode)
	page("POST /ui/nodes/{id}/rollback", tandem.RoleEditor, s.uiNodeRollback)
	page("GET /ui/lineage/{id}", tandem.RoleViewer, s.uiLineage)
	page("GET /ui/runs", tandem.RoleViewer, s.uiRuns)
	page("GET /ui/runs/{id}", tandem.RoleViewer, s.uiRun)
	page("POST /ui/runs/{id}/rerun", tandem.RoleEditor, s.uiRerunFailed)
	page("POST /ui/jobs/{name}/trigger", tandem.RoleEditor, s.uiTriggerJob)
	page("GET /ui/events", tandem.RoleViewer, s.uiEvents)
	page("POST /ui/events/replay", tandem.RoleEditor, s.uiReplayEvents)
	page("GET /ui/features", tandem.RoleViewer, s.uiFeatures)
	page("GET /ui/features/{name}", tandem.RoleViewer, s.uiFeatureView)
	s.mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "login", map[string]any{"Title": "Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
	})
	s.mux.HandleFunc("POST /ui/login", s.uiLogin)
	s.mux.HandleFunc("POST /ui/logout", func(w http.ResponseWriter, r *http.Request) {
		if !sameSite(r) {
			s.uiError(w, r, nil, tandem.Errorf(tandem.EFORBIDDEN, "signing out from another site is refused"))
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			if err := s.Meta.DeleteSession(r.Context(), HashToken(c.Value)); err != nil {
				s.uiError(w, r, nil, err)
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	})
	for file, typ := range map[string]string{"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"} {
		s.mux.HandleFunc("GET /ui/static/"+file, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			b, _ := uiFiles.ReadFile("ui/" + file)
			w.Write(b)
		})
	}
}

// safeNext keeps a redirect after sign-in on this site: a path, with no
// scheme, host, backslash, control character or space anywhere (browsers
// drop tabs and newlines from a URL, so "/\t/evil.example" became
// "//evil.example", another site).
func safeNext(next string) string {
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// sameSite says whether a browser's form post comes from this site: a
// page elsewhere must not sign a visitor in (under a token of its choosing)
// or out. Browsers send Origin on every POST, and Sec-Fetch-Site.
func sameSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	return sameOrigin(r)
}

func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	if !sameSite(r) {
		s.render(w, http.StatusForbidden, "login", map[string]any{"Title": "Sign in", "Next": "/", "Error": "A sign-in from another site is refused: sign in on this page."})
		return
	}
	tok, err := s.tokenFor(r, secret)
	if err != nil {
		msg := "That token is unknown or revoked. Create one with `tandem token create --role viewer`."
		if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			msg = tandem.ErrorMessage(err)
		}
		s.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Sign in", "Next": next, "Error": msg})
		return
	}
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		s.uiError(w, r, nil, err)
		return
	}
	sid := hex.EncodeToString(id[:])
	now := time.Now()
	if err := s.Meta.CreateSession(r.Context(), &tandem.Session{Hash: HashToken(sid), TokenID: tok.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}); err != nil {
		s.uiError(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: now.Add(SessionTTL)})
	s.Logger.Info("signed in to the web UI", "token", tok.Name, "role", tok.Role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data map[string]any) {
	data["Page"] = page
	var buf bytes.Buffer
	if err := uiPages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.Logger.Error("web UI page failed to render", "page", page, "err", err)
		http.Error(w, "internal error; the server log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderFragment renders one named template of a page alone (the
// catalog's live results).
func (s *Server) renderFragment(w http.ResponseWriter, page, name string, data map[string]any) error {
	var buf bytes.Buffer
	if err := uiPages[page].ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(buf.Bytes())
	return nil
}

// uiError shows an error as a page, with the API's status code.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, tok *tandem.Token, err error) {
	code := tandem.ErrorCode(err)
	msg := tandem.ErrorMessage(err)
	if code == tandem.EINTERNAL {
		s.Logger.Error("internal error", "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details"
	}
	s.render(w, statusOf[code], "login", map[string]any{"Title": "Error", "Token": tok, "Error": msg, "Next": "/"})
}

// fmtMetric shows a count as a whole number and a measure to 4 decimals.
func fmtMetric(name string, x float64) string {
	if ml.IsCount(name) && x == math.Trunc(x) {
		return conv.Thousands(int64(x))
	}
	return fmt.Sprintf("%.4f", x)
}

// model is one model as GET /api/v1/models and the UI's tables list it.
type model struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Algorithm   string `json:"algorithm"`
	Production  int    `json:"production_version,omitempty"`
	Fallback    string `json:"fallback,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Description string `json:"description,omitempty"`
}

// modelList lists the served models with their production versions.
func modelList(m *ml.Server) []model {
	out := []model{}
	if m == nil {
		return out
	}
	versions := m.Versions()
	for _, n := range sorted.Keys(m.Specs) {
		sp := m.Specs[n]
		out = append(out, model{Name: n, Kind: sp.KindOf(), Algorithm: sp.Algorithm, Fallback: sp.Fallback, Owner: sp.Owner,
			Description: strings.TrimSpace(sp.Description), Production: versions[n]})
	}
	return out
}

func (s *Server) uiHome(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	recent, err := s.Meta.FindRuns(r.Context(), tandem.RunFilter{Limit: 200})
	if err != nil {
		return err
	}
	since := s.Clock().Add(-24 * time.Hour)
	var failing, running []*tandem.Run
	for _, run := range recent {
		switch {
		case run.Status == tandem.StatusError && run.StartedAt.After(since):
			full, err := s.Meta.FindRun(r.Context(), run.ID)
			if err == nil {
				run = full
			}
			failing = append(failing, run)
		case run.Status == tandem.StatusRunning || run.Status == tandem.StatusQueued:
			running = append(running, run)
		}
	}
	models := modelList(s.Platform.Models())
	inProd := 0
	for _, m := range models {
		if m.Production > 0 {
			inProd++
		}
	}
	if len(recent) > 10 {
		recent = recent[:10]
	}
	p := s.Platform.Project()
	data := pageData(r, tok, "Home")
	data["Project"], data["Failing"], data["Running"], data["Recent"], data["Models"], data["InProduction"] = p.Name, failing, running, recent, models, inProd
	// Tests whose latest result failed.
	latest, err := s.Meta.LatestResults(r.Context(), nil)
	if err != nil {
		return err
	}
	type failedTest struct {
		Node   *tandem.Node
		Result *tandem.NodeResult
	}
	var tests []failedTest
	for _, id := range sorted.Keys(latest) {
		res := latest[id]
		if n, ok := p.Nodes[id]; ok && n.Kind == tandem.KindTest && (res.Status == tandem.StatusFail || res.Status == tandem.StatusError) {
			tests = append(tests, failedTest{n, res})
		}
	}
	data["FailingTests"] = tests
	var late []*schedule.FreshnessResult
	for _, f := range s.Platform.Freshness(r.Context()) {
		if f.Status == schedule.FreshWarn || f.Status == schedule.FreshError {
			late = append(late, f)
		}
	}
	data["Late"] = late
	var stale []viewRow // typed even when empty: the page takes its len
	if fs := s.Platform.Features(); fs != nil {
		for _, v := range s.viewRows(r.Context(), fs) {
			if v.Stale {
				stale = append(stale, v)
			}
		}
	}
	data["StaleViews"] = stale
	if st, err := s.Platform.EventStats(r.Context(), 60); err == nil {
		data["Quarantined"], data["Events"] = st.Quarantined, st.Total
	} else {
		data["EventsError"] = tandem.ErrorMessage(err)
	}
	s.render(w, http.StatusOK, "home", data)
	return nil
}

func (s *Server) uiModels(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	data := pageData(r, tok, "Models")
	data["Models"] = modelList(s.Platform.Models())
	s.render(w, http.StatusOK, "models", data)
	return nil
}

func (s *Server) uiModel(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	m, err := s.models()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	spec, ok := m.Specs[name]
	if !ok {
		return tandem.Errorf(tandem.ENOTFOUND, "no model %q", name)
	}
	versions, err := m.Registry.Versions(name)
	if err != nil {
		return err
	}
	al, err := m.Registry.Aliases(name)
	if err != nil {
		return err
	}
	// The metrics as columns, the gate's first.
	metrics := []string{spec.Gate.Metric}
	seen := map[string]bool{spec.Gate.Metric: true}
	for _, v := range versions {
		if v.Eval == nil {
			continue
		}
		for _, k := range sorted.Keys(v.Eval.Metrics) {
			if !seen[k] {
				seen[k] = true
				metrics = append(metrics, k)
			}
		}
	}
	type row struct {
		V                     *ml.Version
		Values                []string
		Baseline              string
		Production, Candidate bool
	}
	var rows []row
	var points []float64
	for i := len(versions) - 1; i >= 0; i-- { // newest first
		v := versions[i]
		rw := row{V: v, Production: v.Version == al.Production, Candidate: v.Version == al.Candidate}
		for _, k := range metrics {
			val := ""
			if v.Eval != nil {
				if x, ok := v.Eval.Metrics[k]; ok {
					val = fmtMetric(k, x)
				}
			}
			rw.Values = append(rw.Values, val)
		}
		if v.Eval != nil {
			rw.Baseline = fmt.Sprintf("%.4f", v.Eval.Baseline[spec.Gate.Metric])
		}
		rows = append(rows, rw)
	}
	for _, v := range versions {
		if v.Eval != nil {
			points = append(points, v.Eval.Metrics[spec.Gate.Metric])
		}
	}
	var chart template.HTML
	if len(points) > 0 {
		chart = lineChart(points, al.Production-1, spec.Gate.Metric, ml.IsShare(spec.Gate.Metric))
	}
	audit, err := m.Registry.Audit(name)
	if err != nil {
		return err
	}
	for i, j := 0, len(audit)-1; i < j; i, j = i+1, j-1 { // newest first
		audit[i], audit[j] = audit[j], audit[i]
	}
	data := pageData(r, tok, name)
	data["Spec"], data["Aliases"], data["Versions"], data["Metrics"], data["Rows"], data["Chart"], data["Audit"] = spec, al, versions, metrics, rows, chart, audit
	s.render(w, http.StatusOK, "model", data)
	return nil
}

func (s *Server) uiPromoteModel(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	name := r.PathValue("name")
	version, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "version %q is not a number", r.PostFormValue("version"))
	}
	force, reason := r.PostFormValue("force") == "1", strings.TrimSpace(r.PostFormValue("reason"))
	verdict, err := s.Platform.PromoteModel(r.Context(), actor(tok), name, version, force, reason)
	if err == nil {
		err = s.record(r.Context(), tok, "model.promote", name, fmt.Sprintf("v%d", version))
	}
	done := fmt.Sprintf("v%d is in production", version)
	if verdict != nil {
		done += ": " + verdict.Why
	}
	back(w, r, "/ui/models/"+name, err, done)
	return nil
}

func (s *Server) uiRollbackModel(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	name := r.PathValue("name")
	from, to, err := s.Platform.RollbackModel(r.Context(), actor(tok), name, strings.TrimSpace(r.PostFormValue("reason")))
	if err == nil {
		err = s.record(r.Context(), tok, "model.rollback", name, fmt.Sprintf("v%d -> v%d", from, to))
	}
	back(w, r, "/ui/models/"+name, err, fmt.Sprintf("production is v%d again (was v%d)", to, from))
	return nil
}

// lineChart draws values (one per version, v1 first) as an SVG line,
// marking the production version (index mark, -1 for none).
func lineChart(values []float64, mark int, label string, share bool) template.HTML {
	const w, h, pad = 640.0, 180.0, 36.0
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		lo, hi = lo-0.5*max(lo, 0.01), hi+0.5*max(hi, 0.01)
	}
	if share { // a share's axis stays within [0, 1]
		lo, hi = max(lo, 0), min(hi, 1)
	}
	x := func(i int) float64 {
		if len(values) == 1 {
			return w / 2
		}
		return pad + float64(i)*(w-2*pad)/float64(len(values)-1)
	}
	y := func(v float64) float64 { return h - pad - (v-lo)/(hi-lo)*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s by version" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, template.HTMLEscapeString(label), w, h, w, h)
	fmt.Fprintf(&b, `<text x="4" y="%.1f">%.4f</text><text x="4" y="%.1f">%.4f</text>`, y(hi)+4, hi, y(lo)+4, lo)
	var pts []string
	for i, v := range values {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2f5bd3" stroke-width="2" points="%s"/>`, strings.Join(pts, " "))
	for i, v := range values {
		fill := "#2f5bd3"
		if i == mark {
			fill = "#067647"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>v%d: %.4f</title></circle><text x="%.1f" y="%.1f" text-anchor="middle">v%d</text>`,
			x(i), y(v), fill, i+1, v, x(i), h-8, i+1)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
