package main

import (
	"encoding/json"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShopModelsTrainPromoteRollback: on the shop's real purchases, a
// recommender is trained, evaluated, promoted through the gate, refused
// when worse, forced with an audited reason, rolled back, and scored in
// batch with the production version.
func TestShopModelsTrainPromoteRollback(t *testing.T) {
	dir, _ := shopProject(t)
	spec := filepath.Join(dir, "ml", "recommenders.yml")
	orig, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	// product_recs as most-popular (worse), then as shipped (EASE).
	worse := strings.Replace(string(orig), "algorithm: ease\n    params: {lambda: 200}", "algorithm: most_popular", 1)
	if worse == string(orig) {
		t.Fatal("the shop's product_recs spec changed; update this test")
	}
	pd := []string{"--project-dir", dir}
	trainAs := func(body string) {
		t.Helper()
		os.WriteFile(spec, []byte(body), 0o644)
		mustRun(t, append([]string{"ml", "train", "product_recs"}, pd...)...)
	}
	trainAs(worse)
	mustRun(t, append([]string{"ml", "promote", "product_recs@1"}, pd...)...)
	trainAs(string(orig))
	out := mustRun(t, append([]string{"ml", "promote", "product_recs@2"}, pd...)...)
	if !strings.Contains(out, "passed the gate") {
		t.Fatalf("a better model:\n%s", out)
	}
	trainAs(worse)
	stdout, stderr, code := tandemCLI(t, append([]string{"ml", "promote", "product_recs@3"}, pd...)...)
	if code == 0 || !strings.Contains(stderr, "the promotion gate refuses product_recs v3") {
		t.Fatalf("a worse model: exit %d\n%s%s", code, stdout, stderr)
	}
	out = mustRun(t, append([]string{"ml", "promote", "product_recs@3", "--force", "--reason", "testing the override"}, pd...)...)
	if !strings.Contains(out, "FORCED past the gate") {
		t.Fatal(out)
	}
	out = mustRun(t, append([]string{"ml", "rollback", "product_recs"}, pd...)...)
	if !strings.Contains(out, "production is v2 again (was v3)") {
		t.Fatal(out)
	}
	out = mustRun(t, append([]string{"ml", "show", "product_recs"}, pd...)...)
	for _, want := range []string{"v2", "production", "promote v1", "promote v2", "refused v3", "force_promote v3 (was v2): testing the override", "rollback v2 (was v3)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ml show lacks %q:\n%s", want, out)
		}
	}
	// The evaluation beats most popular clearly on the real data.
	var eval struct {
		Metrics, Baseline map[string]float64
		Users             int
	}
	if err := json.Unmarshal([]byte(mustRun(t, append([]string{"ml", "eval", "product_recs@2", "-o", "json"}, pd...)...)), &eval); err != nil {
		t.Fatal(err)
	}
	if eval.Users < 500 || eval.Metrics["ndcg@10"] < 1.5*eval.Baseline["ndcg@10"] {
		t.Fatalf("EASE on the shop: %d users, ndcg@10 %.4f vs most popular %.4f", eval.Users, eval.Metrics["ndcg@10"], eval.Baseline["ndcg@10"])
	}
	// Batch scoring with production (v2), a known and an unknown customer.
	users := filepath.Join(dir, "users.txt")
	os.WriteFile(users, []byte("user\n12347\nnobody\n"), 0o644)
	out = mustRun(t, append([]string{"ml", "recommend", "--model", "product_recs", "--users", users, "--k", "3"}, pd...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[1], "12347,1,") || !strings.Contains(lines[1], ",product_recs@2,") || !strings.HasSuffix(lines[6], ",unknown_user") {
		t.Fatalf("ml recommend:\n%s", out)
	}
}

// TestServeSwapsPromotedModelWithoutDroppingRequests: tandem serve answers
// recommendations from production, stamped with the version; a promotion
// by the CLI while requests flow swaps the version in, and no request
// fails; an unknown user gets the fallback, and the response says so.
func TestServeSwapsPromotedModelWithoutDroppingRequests(t *testing.T) {
	dir, token := shopProject(t)
	pd := []string{"--project-dir", dir}
	mustRun(t, append([]string{"ml", "train", "popular_products", "--promote"}, pd...)...)
	mustRun(t, append([]string{"ml", "train", "product_recs_sar", "--promote"}, pd...)...)
	mustRun(t, append([]string{"ml", "train", "product_recs_sar"}, pd...)...) // v2, the candidate
	s := startServe(t, dir, token, "2011-09-01T00:00:00Z")

	var ans struct {
		Model, Fallback, Requested string
		Version                    int
		Items                      []struct{ Item string }
	}
	if code := s.call("GET", "/api/v1/models/product_recs_sar/recommend?user=12347&k=5", "", &ans); code != 200 || ans.Version != 1 || len(ans.Items) != 5 || ans.Fallback != "" {
		t.Fatalf("recommend: %d %+v", code, ans)
	}
	if code := s.call("GET", "/api/v1/models/product_recs_sar/recommend?user=someone-new&k=5", "", &ans); code != 200 || ans.Fallback != "unknown_user" || ans.Model != "popular_products" || ans.Requested != "product_recs_sar" {
		t.Fatalf("unknown user: %d %+v", code, ans)
	}
	if code := s.call("GET", "/api/v1/models/product_recs_sar/similar?item=85123A&k=3", "", &ans); code != 200 || len(ans.Items) != 3 {
		t.Fatalf("similar: %d %+v", code, ans)
	}

	stop := make(chan struct{})
	var failed, served, sawV2 atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := nethttp.NewRequest("GET", s.url+"/api/v1/models/product_recs_sar/recommend?user=12347&k=5", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := nethttp.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var a struct{ Version int }
				json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				served.Add(1)
				if a.Version == 2 {
					sawV2.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	mustRun(t, append([]string{"ml", "promote", "product_recs_sar@2"}, pd...)...) // same data and spec: ratio 1, passes
	for deadline := time.Now().Add(10 * time.Second); sawV2.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || sawV2.Load() == 0 {
		t.Fatalf("%d served, %d failed, %d from v2\n%s", served.Load(), failed.Load(), sawV2.Load(), s.log)
	}
}
