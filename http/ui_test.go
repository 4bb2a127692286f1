package http

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// browse sends a request as a browser would: the session cookie, a form
// body, an Origin. A token's secret given as the cookie signs in first
// (once per server and token) and sends the session's id.
func browse(s *Server, method, path, cookie, form, origin string) *httptest.ResponseRecorder {
	if strings.HasPrefix(cookie, "tdm_") {
		cookie = signIn(s, cookie)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(form))
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

var sessions sync.Map // server and secret -> session id

// signIn posts the sign-in form and returns the session cookie's value.
func signIn(s *Server, secret string) string {
	key := fmt.Sprintf("%p/%s", s, secret)
	if id, ok := sessions.Load(key); ok {
		return id.(string)
	}
	rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(secret)+"&next=/", "")
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			sessions.Store(key, c.Value)
			return c.Value
		}
	}
	return ""
}

// TestUISignInPagesAndRoles: a visitor is sent to sign in, a wrong token
// is refused, a viewer's token becomes an HttpOnly cookie; the pages show
// the models; the cookie works for the API with the same roles (a viewer
// cannot start a run), a change from another site is refused, and signing
// out clears the cookie.
func TestUISignInPagesAndRoles(t *testing.T) {
	s, secrets := newTestServer(t)
	if rec := browse(s, "GET", "/", "", "", ""); rec.Code != 303 || rec.Header().Get("Location") != "/ui/login?next=%2F" {
		t.Fatalf("not signed in: %d %v", rec.Code, rec.Header())
	}
	if rec := browse(s, "GET", "/ui/login?next=/ui/models", "", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `name="next" value="/ui/models"`) {
		t.Fatalf("sign-in page: %d %s", rec.Code, rec.Body)
	}
	if rec := browse(s, "POST", "/ui/login", "", "token=tdm_wrong&next=/", ""); rec.Code != 401 || !strings.Contains(rec.Body.String(), "unknown or revoked") || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("a wrong token: %d %s", rec.Code, rec.Body)
	}
	rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(secrets["viewer"])+"&next=/ui/models", "")
	cookie := rec.Header().Get("Set-Cookie")
	if rec.Code != 303 || rec.Header().Get("Location") != "/ui/models" || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("signing in: %d %v", rec.Code, rec.Header())
	}
	if rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(secrets["viewer"])+"&next=//evil.example/", ""); rec.Header().Get("Location") != "/" {
		t.Errorf("a redirect off the site after sign-in: %v", rec.Header())
	}
	viewer := secrets["viewer"]

	rec = browse(s, "GET", "/", viewer, "", "")
	for _, want := range []string{"models in production", `<a href="/ui/models/recs">recs</a>`, "<td>v1</td>", "Sign out", "viewer"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("home lacks %q:\n%s", want, rec.Body)
		}
	}
	rec = browse(s, "GET", "/ui/models/recs", viewer, "", "")
	for _, want := range []string{"ndcg@10", "<svg", "v1: 0.1000", `<span class="status success">production</span>`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("the model page lacks %q:\n%s", want, rec.Body)
		}
	}
	if rec := browse(s, "GET", "/ui/models/nope", viewer, "", ""); rec.Code != 404 {
		t.Errorf("an unknown model: %d", rec.Code)
	}

	// The cookie is a token like any other: same roles, checked by the server.
	if rec := browse(s, "GET", "/api/v1/models", viewer, "", ""); rec.Code != 200 {
		t.Errorf("the API with the cookie: %d %s", rec.Code, rec.Body)
	}
	if rec := browse(s, "POST", "/api/v1/runs", viewer, "", ""); rec.Code != 403 {
		t.Errorf("a viewer starting a run: %d %s", rec.Code, rec.Body)
	}
	if rec := browse(s, "POST", "/api/v1/jobs/hourly/trigger", secrets["editor"], "", "https://evil.example"); rec.Code != 403 || !strings.Contains(rec.Body.String(), "another site") {
		t.Errorf("a change from another site: %d %s", rec.Code, rec.Body)
	}
	if rec := browse(s, "POST", "/api/v1/jobs/hourly/trigger", secrets["editor"], "", "http://example.com"); rec.Code != 201 && rec.Code != 200 && rec.Code != 202 {
		t.Errorf("an editor's change from the site itself: %d %s", rec.Code, rec.Body)
	}

	rec = browse(s, "POST", "/ui/logout", viewer, "", "")
	if rec.Code != 303 || !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("signing out: %d %v", rec.Code, rec.Header())
	}
	if rec := browse(s, "GET", "/ui/static/style.css", "", "", ""); rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("the style sheet: %d", rec.Code)
	}
}

// Every page renders on the test project, and the catalog's live results
// come as a fragment.
func TestUIPagesRender(t *testing.T) {
	s, secrets := newTestServer(t)
	editor := secrets["editor"]
	for _, path := range []string{"/", "/ui/catalog", "/ui/catalog?q=orders", "/ui/runs", "/ui/events", "/ui/features", "/ui/models"} {
		if rec := browse(s, "GET", path, editor, "", ""); rec.Code != 200 {
			t.Errorf("GET %s: %d\n%s", path, rec.Code, rec.Body)
		}
	}
	rec := browse(s, "GET", "/ui/catalog?q=orders&fragment=1", editor, "", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "<html") || !strings.Contains(rec.Body.String(), "match") {
		t.Errorf("the catalog's fragment: %d\n%s", rec.Code, rec.Body)
	}
}

// "Run the failed nodes again" starts a run of exactly those nodes and
// goes to it; a run without failures says so.
func TestUIRerunFailedNodes(t *testing.T) {
	s, secrets := newTestServer(t)
	ctx := context.Background()
	s.Meta.CreateRun(ctx, &tandem.Run{ID: "run-2", Command: "build", Status: tandem.StatusError, StartedAt: time.Now()})
	s.Meta.SaveNodeResult(ctx, "run-2", &tandem.NodeResult{Node: "model.p.a", Kind: tandem.KindModel, Status: tandem.StatusError, Message: "boom"})
	page := browse(s, "GET", "/ui/runs/run-2", secrets["editor"], "", "")
	if !strings.Contains(page.Body.String(), "Run the 1 failed nodes again") || !strings.Contains(page.Body.String(), "boom") {
		t.Fatalf("the failed run's page:\n%s", page.Body)
	}
	rec := browse(s, "POST", "/ui/runs/run-2/rerun", secrets["editor"], "", "")
	tp := s.Platform.(*testPlatform)
	if rec.Code != 303 || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/runs/r-") || len(tp.runs) != 1 || strings.Join(tp.runs[0].Select, ",") != "a" {
		t.Errorf("rerun: %d %v, runs asked: %+v", rec.Code, rec.Header(), tp.runs)
	}
	rec = browse(s, "POST", "/ui/runs/run-1/rerun", secrets["editor"], "", "")
	if loc := rec.Header().Get("Location"); rec.Code != 303 || !strings.Contains(loc, "failed=") || len(tp.runs) != 1 {
		t.Errorf("rerun of a run without failures: %d %s", rec.Code, loc)
	}
	if rec := browse(s, "POST", "/ui/runs/run-2/rerun", secrets["viewer"], "", ""); rec.Code != 403 || len(tp.runs) != 1 {
		t.Errorf("a viewer's rerun: %d", rec.Code)
	}
}

// TestUISessions: the cookie holds a random session id, never the token;
// the session ends at sign-out and when its token is revoked; a sign-in or
// sign-out from another site is refused, and no redirect leaves the site.
func TestUISessions(t *testing.T) {
	s, secrets := newTestServer(t)
	viewer := secrets["viewer"]
	rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(viewer)+"&next=/ui/models", "")
	var sid string
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			sid = c.Value
			if c.Expires.After(time.Now().Add(SessionTTL + time.Minute)) {
				t.Errorf("the session cookie lives until %v", c.Expires)
			}
		}
	}
	if sid == "" || strings.Contains(rec.Header().Get("Set-Cookie"), viewer) || len(sid) != 64 {
		t.Fatalf("the cookie: %q", rec.Header().Get("Set-Cookie"))
	}
	if rec := browse(s, "GET", "/ui/models", sid, "", ""); rec.Code != 200 {
		t.Fatalf("with the session: %d", rec.Code)
	}
	// The token itself is no cookie.
	if rec := browse(s, "GET", "/api/v1/models", "", "", ""); rec.Code != 401 {
		t.Errorf("no cookie: %d", rec.Code)
	}
	req := httptest.NewRequest("GET", "/api/v1/models", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: viewer})
	if rec := httptest.NewRecorder(); func() int { s.ServeHTTP(rec, req); return rec.Code }() != 401 {
		t.Errorf("a raw token as the cookie is accepted")
	}
	// Sign-out ends the session on the server, not only in the browser.
	if rec := browse(s, "POST", "/ui/logout", sid, "", "https://evil.example"); rec.Code != 403 {
		t.Errorf("a sign-out from another site: %d", rec.Code)
	}
	browse(s, "POST", "/ui/logout", sid, "", "")
	if rec := browse(s, "GET", "/ui/models", sid, "", ""); rec.Code != 303 {
		t.Errorf("a signed-out session still works: %d", rec.Code)
	}
	if rec := browse(s, "GET", "/api/v1/models", sid, "", ""); rec.Code != 401 {
		t.Errorf("a signed-out session still opens the API: %d", rec.Code)
	}
	// Revoking the token ends its sessions.
	tok, secret, _ := NewToken("leaver", "viewer", time.Now())
	s.Meta.CreateToken(context.Background(), tok)
	sid2 := signIn(s, secret)
	if rec := browse(s, "GET", "/api/v1/models", sid2, "", ""); rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
	s.Meta.DeleteToken(context.Background(), tok.ID)
	if rec := browse(s, "GET", "/api/v1/models", sid2, "", ""); rec.Code != 401 {
		t.Errorf("a session of a revoked token: %d", rec.Code)
	}
	// Another site cannot sign a visitor in.
	rec = browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(viewer)+"&next=/", "https://evil.example")
	if rec.Code != 403 || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("a cross-site sign-in: %d %v", rec.Code, rec.Header())
	}
	req = httptest.NewRequest("POST", "/ui/login", strings.NewReader("token="+url.QueryEscape(viewer)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := httptest.NewRecorder(); func() int { s.ServeHTTP(rec, req); return rec.Code }() != 403 {
		t.Errorf("a cross-site sign-in without Origin")
	}
	// No redirect after sign-in leaves the site.
	for _, next := range []string{"/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
		"/%09/evil.example/../", " //evil.example", "javascript:alert(1)", "/\x7f/evil"} {
		rec := browse(s, "POST", "/ui/login", "", "token="+url.QueryEscape(viewer)+"&next="+url.QueryEscape(next), "")
		if loc := rec.Header().Get("Location"); loc != "/" && (!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\t\n\\")) {
			t.Errorf("next=%q redirects to %q", next, loc)
		} else if next != "/%09/evil.example/../" && loc != "/" {
			t.Errorf("next=%q redirects to %q, want /", next, loc)
		}
	}
}
