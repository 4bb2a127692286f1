package main

import (
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"
)

// getUI fetches a UI page with a session and returns its HTML.
func getUI(t *testing.T, s *server, session, path string) string {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", s.url+path, nil)
	req.AddCookie(&nethttp.Cookie{Name: "tandem_session", Value: session})
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, b)
	}
	return string(b)
}

// The shop's data ends in August 2011; its tandem.yaml sets the platform
// clock (clock.start), and serve, the CLI, the UI and freshness all read
// it: features are in their ttl, predictions use them, runs are dated on
// that clock, shared by every process. A clock past the ttl flags the
// views as stale on the features page and the home page (issue 14, item
// 14).
func TestTheShopLivesOnItsOwnClock(t *testing.T) {
	dir, token := shopProject(t)
	pd := []string{"--project-dir", dir}
	var runs []struct {
		StartedAt time.Time `json:"started_at"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, append([]string{"runs", "-o", "json"}, pd...)...)), &runs); err != nil || len(runs) == 0 {
		t.Fatalf("runs: %v %+v", err, runs)
	}
	start := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	if at := runs[0].StartedAt; at.Before(start) || at.After(start.Add(10*time.Minute)) {
		t.Errorf("the build started at %s on the platform clock, want just after %s", at, start)
	}
	mustRun(t, append([]string{"ml", "train", "buy_again", "--promote"}, pd...)...)
	mustRun(t, append([]string{"features", "materialize", "--incremental"}, pd...)...)
	online := mustRun(t, append([]string{"features", "online", "--features", "customer_rfm", "--entity", "customer_id=12347", "-o", "json"}, pd...)...)
	if strings.Contains(online, "OUTSIDE_MAX_AGE") || !strings.Contains(online, "PRESENT") {
		t.Errorf("features online from the CLI:\n%s", online)
	}
	if out, _, code := tandemCLI(t, append([]string{"freshness"}, pd...)...); code != 0 {
		t.Errorf("freshness on the platform clock: exit %d\n%s", code, out)
	}

	s := startServe(t, dir, token, "") // no override: tandem.yaml's clock
	var ans struct {
		Predictions []struct{ Fallback string }
	}
	if code := s.call("POST", "/api/v1/models/buy_again/predict", `{"entities": {"customer_id": [12347, 12348]}}`, &ans); code != 200 || len(ans.Predictions) != 2 ||
		ans.Predictions[0].Fallback != "" || ans.Predictions[1].Fallback != "" {
		t.Errorf("buy_again from tandem serve: %d %+v", code, ans)
	}
	session := uiSession(t, s.url, token)
	if page := getUI(t, s, session, "/ui/features"); strings.Contains(page, ">stale<") {
		t.Errorf("a feature view is flagged stale on the shop's own clock")
	}
	if home := getUI(t, s, session, "/"); !strings.Contains(home, "Every feature view is within its ttl.") {
		t.Errorf("home page does not say the feature views are within their ttl")
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()

	// Two years on, customer_rfm (ttl 365d) and product_stats (90d) are stale.
	s = startServe(t, dir, token, "2013-09-01T00:00:00Z")
	session = uiSession(t, s.url, token)
	if page := getUI(t, s, session, "/ui/features"); strings.Count(page, ">stale<") != 2 {
		t.Errorf("features page flags %d views stale, want 2", strings.Count(page, ">stale<"))
	}
	home := getUI(t, s, session, "/")
	for _, want := range []string{"feature views older than their ttl", `href="/ui/features/customer_rfm"`, `href="/ui/features/product_stats"`, "OUTSIDE_MAX_AGE"} {
		if !strings.Contains(home, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
}

// The shop's features are the same on every build: favourite_category's
// ties are broken by a rule, not by the engine's hash order (with mode()
// one build in four differed, and buy_again's AUC with it; issue 14, item
// 16).
func TestShopFeaturesAreDeterministic(t *testing.T) {
	dir, _ := shopProject(t)
	var first string
	for i := 0; i < 6; i++ {
		if i > 0 {
			mustRun(t, "build", "-s", "customer_order_features", "--project-dir", dir)
		}
		got := fmt.Sprint(query(t, dir, "select count(*), sum(hash(t))::VARCHAR from {{ ref('customer_order_features') }} t"))
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("build %d of customer_order_features differs: %s, first %s", i+1, got, first)
		}
	}
}
