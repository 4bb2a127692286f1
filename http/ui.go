package http

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/ml"
)

// The web UI: pages rendered on the server from the same data as the API
// (readable without JavaScript), its assets embedded in the binary. A
// visitor signs in with an API token, kept in an HttpOnly, SameSite=Strict
// cookie; each page checks the token's role as the API does.

//go:embed ui
var uiFiles embed.FS

// sessionCookie holds the token a visitor signed in with.
const sessionCookie = "tandem_token"

var uiFuncs = template.FuncMap{
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
	for _, page := range []string{"login", "home", "models", "model"} {
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
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
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
	s.mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "login", map[string]any{"Title": "Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
	})
	s.mux.HandleFunc("POST /ui/login", s.uiLogin)
	s.mux.HandleFunc("POST /ui/logout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /ui/static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=3600")
		b, _ := uiFiles.ReadFile("ui/style.css")
		w.Write(b)
	})
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/"
	}
	return next
}

func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	tok, err := s.tokenFor(r, secret)
	if err != nil {
		msg := "That token is unknown or revoked. Create one with `tandem token create --role viewer`."
		if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			msg = tandem.ErrorMessage(err)
		}
		s.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Sign in", "Next": next, "Error": msg})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: time.Now().Add(30 * 24 * time.Hour)})
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
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
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
	name := "Tandem"
	if p := s.Platform.Project(); p != nil {
		name = p.Name
	}
	s.render(w, http.StatusOK, "home", map[string]any{"Title": "Home", "Token": tok, "Project": name, "Failing": failing, "Running": running,
		"Recent": recent, "Models": models, "InProduction": inProd})
	return nil
}

func (s *Server) uiModels(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	s.render(w, http.StatusOK, "models", map[string]any{"Title": "Models", "Token": tok, "Models": modelList(s.Platform.Models())})
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
					val = fmt.Sprintf("%.4f", x)
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
		chart = lineChart(points, al.Production-1, spec.Gate.Metric)
	}
	s.render(w, http.StatusOK, "model", map[string]any{"Title": name, "Token": tok, "Spec": spec, "Aliases": al, "Versions": versions,
		"Metrics": metrics, "Rows": rows, "Chart": chart})
	return nil
}

// lineChart draws values (one per version, v1 first) as an SVG line,
// marking the production version (index mark, -1 for none).
func lineChart(values []float64, mark int, label string) template.HTML {
	const w, h, pad = 640.0, 180.0, 36.0
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		lo, hi = lo-0.5*max(lo, 0.01), hi+0.5*max(hi, 0.01)
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
