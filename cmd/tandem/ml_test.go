package main

import (
	"encoding/json"
	"fmt"
	"math"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	dear := map[string]bool{}
	for _, r := range query(t, dir, `select stock_code from {{ ref('products') }} where median_price >= 10`) {
		dear[fmt.Sprint(r[0])] = true
	}
	if len(dear) == 0 || len(dear) == 1000 {
		t.Fatalf("%d products of 10 GBP or more: the query's limit is 1000", len(dear))
	}
	s := startServe(t, dir, token, "2011-09-01T00:00:00Z")

	var ans struct {
		Model, Fallback, Requested string
		Version                    int
		Items                      []struct{ Item string }
	}
	// product_recs has no production version: its fallback answers, with
	// the allow-list product_recs declares (products under 10 GBP).
	if code := s.call("GET", "/api/v1/models/product_recs/recommend?user=12347&k=20&filter=under_10_gbp", "", &ans); code != 200 || ans.Model != "popular_products" || ans.Fallback != "no_production_version" || len(ans.Items) != 20 {
		t.Fatalf("filtered fallback: %d %+v", code, ans)
	}
	for _, it := range ans.Items {
		if dear[it.Item] {
			t.Errorf("%s costs 10 GBP or more, yet the filter let it through", it.Item)
		}
	}
	var fail struct{ Error struct{ Message string } }
	if code := s.call("GET", "/api/v1/models/product_recs/recommend?user=12347&filter=cheap", "", &fail); code != 400 || !strings.Contains(fail.Error.Message, "has the filters sold_last_30d, under_10_gbp") {
		t.Errorf("an unknown filter: %d %+v", code, fail)
	}
	ans.Fallback, ans.Requested = "", ""
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

// TestShopPredictorsServedWithOnlineFeatures: the shop's XGBoost model
// (trained in Python by examples/shop/ml/buy_again_xgb/train.py) and its
// logistic regression (trained by Tandem) are trained, promoted and served
// by tandem serve; /predict reads each customer's features from the
// online store, and XGBoost's scores match the reference predictions
// XGBoost itself made to 1e-6. An unknown customer gets the prior rate.
func TestShopPredictorsServedWithOnlineFeatures(t *testing.T) {
	dir, token := shopProject(t)
	pd := []string{"--project-dir", dir}
	out := mustRun(t, append([]string{"ml", "train", "buy_again", "--promote"}, pd...)...)
	if !strings.Contains(out, "prior rate") {
		t.Errorf("ml train buy_again:\n%s", out)
	}
	out = mustRun(t, append([]string{"ml", "train", "buy_again_xgb", "--promote"}, pd...)...)
	var eval struct{ Metrics, Baseline map[string]float64 }
	if err := json.Unmarshal([]byte(mustRun(t, append([]string{"ml", "eval", "buy_again_xgb@1", "-o", "json"}, pd...)...)), &eval); err != nil {
		t.Fatal(err)
	}
	if eval.Metrics["auc"] < 0.7 || eval.Baseline["auc"] != 0.5 || eval.Metrics["logloss"] >= eval.Baseline["logloss"] {
		t.Errorf("buy_again_xgb on the temporal split: %v vs prior rate %v\n%s", eval.Metrics, eval.Baseline, out)
	}
	mustRun(t, append([]string{"features", "materialize", "--incremental"}, pd...)...)
	// popular_products, never trained, is retrained every day at midnight.
	spec := filepath.Join(dir, "ml", "recommenders.yml")
	src, _ := os.ReadFile(spec)
	withSchedule := strings.Replace(string(src), "    params: {window_days: 30}\n", "    params: {window_days: 30}\n    schedule: \"0 0 * * *\"\n", 1)
	if withSchedule == string(src) {
		t.Fatal("the shop's popular_products spec changed; update this test")
	}
	os.WriteFile(spec, []byte(withSchedule), 0o644)
	s := startServe(t, dir, token, "2011-08-31T23:59:57Z")

	ref, err := os.ReadFile(filepath.Join(dir, "ml", "buy_again_xgb", "reference_predictions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(ref)), "\n")[1:] {
		f := strings.Split(line, ",")
		p, _ := strconv.ParseFloat(f[5], 64)
		want[f[0]] = p
		ids = append(ids, f[0])
	}
	var ans struct {
		Model       string
		Version     int
		Predictions []struct {
			Entity     map[string]any
			Score      float64
			Fallback   string
			AnsweredBy string `json:"answered_by"`
		}
	}
	body := `{"entities": {"customer_id": [` + strings.Join(ids, ",") + `, 99999999]}}`
	if code := s.call("POST", "/api/v1/models/buy_again_xgb/predict", body, &ans); code != 200 || ans.Model != "buy_again_xgb" || ans.Version != 1 || len(ans.Predictions) != len(ids)+1 {
		t.Fatalf("predict: %d %+v", code, ans)
	}
	worst := 0.0
	for i, p := range ans.Predictions[:len(ids)] {
		id := fmt.Sprint(p.Entity["customer_id"])
		if id != ids[i] || p.Fallback != "" {
			t.Fatalf("prediction %d: %+v", i, p)
		}
		if d := math.Abs(p.Score - want[id]); d > 1e-6 && worst <= 1e-6 {
			t.Logf("customer %s: served %.9g, XGBoost %.9g", id, p.Score, want[id])
		}
		worst = max(worst, math.Abs(p.Score-want[id]))
	}
	if worst > 1e-6 {
		t.Errorf("served scores differ from XGBoost's by up to %.3g", worst)
	}
	t.Logf("%d customers: served scores within %.3g of XGBoost's", len(ids), worst)
	if p := ans.Predictions[len(ids)]; p.Fallback != "missing_features" || p.AnsweredBy != "prior_rate" || p.Score <= 0.3 || p.Score >= 0.6 {
		t.Errorf("an unknown customer: %+v", p)
	}
	// The logistic regression on the feature service, favourite category included.
	if code := s.call("POST", "/api/v1/models/buy_again/predict", `{"entities": {"customer_id": [12347]}}`, &ans); code != 200 || ans.Model != "buy_again" || ans.Predictions[0].Fallback != "" || ans.Predictions[0].Score <= 0 || ans.Predictions[0].Score >= 1 {
		t.Errorf("buy_again: %d %+v", code, ans)
	}

	// The schedule trained and promoted popular_products at midnight; the
	// API trains it again in the server and promotes it through the gate.
	production := func() int {
		var list struct {
			Models []struct {
				Name       string
				Production int `json:"production_version"`
			}
		}
		s.call("GET", "/api/v1/models", "", &list)
		for _, m := range list.Models {
			if m.Name == "popular_products" {
				return m.Production
			}
		}
		return -1
	}
	for deadline := time.Now().Add(20 * time.Second); production() != 1; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("popular_products was not trained on schedule:\n%s", s.log)
		}
	}
	if !strings.Contains(s.log.String(), "retrained on schedule and promoted through the gate") {
		t.Errorf("no log of the scheduled training:\n%s", s.log)
	}
	var trained struct {
		Version  struct{ Version int }
		Verdict  struct{ Pass bool }
		Promoted bool
	}
	if code := s.call("POST", "/api/v1/models/popular_products/train", `{"promote": true}`, &trained); code != 201 || trained.Version.Version != 2 || !trained.Promoted || production() != 2 {
		t.Errorf("POST /train: %d %+v, production v%d", code, trained, production())
	}

	// Every answer is logged as an event, passes the tracking plan and is
	// loaded into the warehouse: one per entity.
	served := len(ids) + 2
	for deadline := time.Now().Add(15 * time.Second); s.metric(`tandem_collect_loaded_total`) < float64(served); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("served events: %v logged, %v loaded\n%s", s.metric(`tandem_model_served_events_total{outcome="logged"}`), s.metric("tandem_collect_loaded_total"), s.log)
		}
	}
	if q := s.metric(`tandem_collect_events_total{outcome="quarantined"}`); q > 0 {
		t.Errorf("%v served events quarantined", q)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	rows := query(t, dir, `select model, count(*), count(*) filter (where fallback = 'missing_features'), min(version), count(distinct user_id)
		from events.prediction_served group by model order by model`)
	if len(rows) != 2 || fmt.Sprint(rows[0]) != "[buy_again 1 0 1 1]" || fmt.Sprint(rows[1]) != fmt.Sprintf("[buy_again_xgb %d 1 1 %d]", len(ids)+1, len(ids)+1) {
		t.Errorf("events.prediction_served: %v", rows)
	}
}
