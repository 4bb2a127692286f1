package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
