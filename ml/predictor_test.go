package ml

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestXGBoostMatchesReferencePredictions scores the shop's XGBoost model
// (examples/shop/ml/buy_again_xgb, trained by train.py with Debian's
// python3-xgboost) on the feature values XGBoost itself scored, missing
// values included, and compares with XGBoost's predictions.
func TestXGBoostMatchesReferencePredictions(t *testing.T) {
	dir := "../examples/shop/ml/buy_again_xgb/"
	src, err := os.ReadFile(dir + "model.json")
	if err != nil {
		t.Fatal(err)
	}
	p := &Predictor{Features: []string{"f", "m", "a", "d"}, XGBoost: src}
	rows := readCSV(t, dir+"reference_predictions.csv")
	if len(rows) < 500 {
		t.Fatalf("%d reference rows", len(rows))
	}
	missing := 0
	for n, r := range rows {
		vals := make([]any, 4)
		for i, s := range r[1:5] {
			if s == "" {
				missing++
				continue
			}
			vals[i] = json.Number(s) // as the online store serves numbers
		}
		got, err := p.Score(vals)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.ParseFloat(r[5], 64)
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("row %d (customer %s): %.9g, XGBoost %.9g", n+2, r[0], got, want)
		}
	}
	if missing < 100 {
		t.Errorf("only %d missing values: the default directions are not exercised", missing)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows[1:]
}

// TestClassifierMetricsByHand: six rows, one tie between a positive and
// a negative.
func TestClassifierMetricsByHand(t *testing.T) {
	p := []float64{0.9, 0.8, 0.3, 0.6, 0.2, 0.6}
	y := []float64{1, 0, 1, 1, 0, 0}
	m, bins := ClassifierMetrics(p, y)
	// Pairs (positive above negative): 0.9 beats all 3; 0.3 beats 0.2;
	// 0.6 beats 0.2 and ties 0.6 (a half): 5.5 of 9.
	want := Metrics{
		"auc":               5.5 / 9,
		"logloss":           -(math.Log(0.9) + math.Log(0.2) + math.Log(0.3) + math.Log(0.6) + math.Log(0.8) + math.Log(0.4)) / 6,
		"accuracy":          3.0 / 6, // right: 0.9, 0.6 (y=1), 0.2
		"brier":             (0.01 + 0.64 + 0.49 + 0.16 + 0.04 + 0.36) / 6,
		"calibration_error": (0.1 + 0.8 + 0.7 + 2*0.1 + 0.2) / 6, // the two 0.6s share a bin: observed 0.5
	}
	for k, w := range want {
		if math.Abs(m[k]-w) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
	if len(bins) != 5 {
		t.Errorf("%d non-empty bins, want 5: %+v", len(bins), bins)
	}
	if auc := AUC([]float64{0.1, 0.2}, []float64{1, 0}); auc != 0 {
		t.Errorf("a reversed ranking: AUC %v", auc)
	}
}

// TestLogisticRegressionByHand: with one boolean and one category and a
// negligible penalty, the fit reproduces each group's rate of positives
// (the maximum-likelihood answer of a model that has a weight per group).
func TestLogisticRegressionByHand(t *testing.T) {
	tab := &Table{Features: []string{"v:flag", "v:colour"}, Kinds: []string{"bool", "category"}}
	add := func(flag bool, colour string, n, positives int) {
		for i := 0; i < n; i++ {
			y := 0.0
			if i < positives {
				y = 1
			}
			tab.X = append(tab.X, []any{flag, colour})
			tab.Y = append(tab.Y, y)
			tab.T = append(tab.T, time.Time{})
		}
	}
	// Rates: flag false 1/4, true 3/4 in red; the same again in blue
	// (colour adds nothing), and null colours with flag true 3/4.
	add(false, "red", 4, 1)
	add(true, "red", 4, 3)
	add(false, "blue", 8, 2)
	add(true, "blue", 8, 6)
	tab.X = append(tab.X, []any{true, nil}, []any{true, nil}, []any{true, nil}, []any{true, nil})
	tab.Y = append(tab.Y, 1, 1, 1, 0)
	tab.T = append(tab.T, time.Time{}, time.Time{}, time.Time{}, time.Time{})
	p, err := fitLogistic(tab, 1e-9, 20)
	if err != nil {
		t.Fatal(err)
	}
	if p.Inputs[1].Categories[0] != "blue" || p.Inputs[1].Categories[1] != "red" {
		t.Errorf("categories by frequency: %v", p.Inputs[1].Categories)
	}
	for _, c := range []struct {
		flag   any
		colour any
		want   float64
	}{{false, "red", 0.25}, {true, "red", 0.75}, {false, "blue", 0.25}, {true, "blue", 0.75}, {json.Number("1"), "green", 0.75}} {
		got, err := p.Score([]any{c.flag, c.colour})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-4 {
			t.Errorf("flag %v colour %v: %.6f, want %v", c.flag, c.colour, got, c.want)
		}
	}
	if p.Prior != 15.0/28 {
		t.Errorf("prior %v, want 15/28", p.Prior)
	}
	if _, err := p.Score([]any{"yes", "red"}); err == nil {
		t.Error("a string for a boolean was scored")
	}
}

// TestGateOnALoss: for a loss (lower is better) the ratio is
// production's over the candidate's.
func TestGateOnALoss(t *testing.T) {
	spec := &Spec{Name: "p", Kind: "predictor", Gate: Gate{Metric: "logloss", MinRatio: 1}}
	prod := &Version{Model: "p", Version: 1, Spec: spec, Eval: &EvalResult{Metrics: Metrics{"logloss": 0.50}}}
	better := &Version{Model: "p", Version: 2, Spec: spec, Eval: &EvalResult{Metrics: Metrics{"logloss": 0.40}}}
	worse := &Version{Model: "p", Version: 3, Spec: spec, Eval: &EvalResult{Metrics: Metrics{"logloss": 0.60}}}
	if v := Judge(better, prod, nil); !v.Pass || math.Abs(v.Ratio-1.25) > 1e-12 {
		t.Errorf("a lower loss: %+v", v)
	}
	if v := Judge(worse, prod, nil); v.Pass {
		t.Errorf("a higher loss passed: %+v", v)
	}
}

// TestRecommendTimeoutFallsBack: scoring slower than the spec's timeout
// is answered by the fallback's popular items, and the answer says so.
func TestRecommendTimeoutFallsBack(t *testing.T) {
	d := NewInteractions()
	for _, r := range [][2]string{{"u1", "A"}, {"u1", "B"}, {"u2", "A"}, {"u2", "C"}, {"u3", "A"}} {
		d.Add(r[0], r[1], 1, 0)
	}
	reg := &Registry{Dir: t.TempDir()}
	specs := map[string]*Spec{}
	for _, name := range []string{"recs", "popular"} {
		sp := &Spec{Name: name, Algorithm: "sar", Timeout: "20ms", Gate: Gate{Metric: "ndcg@10", MinRatio: 1}}
		if name == "recs" {
			sp.Fallback = "popular"
		} else {
			sp.Algorithm = "most_popular"
		}
		a, err := Train(sp, d, 1)
		if err != nil {
			t.Fatal(err)
		}
		v := &Version{Model: name, Spec: sp, Eval: &EvalResult{Metrics: Metrics{"ndcg@10": 0.1}}}
		if err := reg.Add(v, a); err != nil {
			t.Fatal(err)
		}
		if err := reg.Promote(v, Judge(v, nil, nil), false, "", "test"); err != nil {
			t.Fatal(err)
		}
		specs[name] = sp
	}
	var served []*Served
	s := &Server{Registry: reg, Specs: specs, Served: func(e *Served) { served = append(served, e) }}
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	ans, err := s.Recommend("recs", "u3", 2, true, nil)
	if err != nil || ans.Fallback != "" || ans.Model != "recs" {
		t.Fatalf("in time: %+v %v", ans, err)
	}
	beforeScore = func(string) { time.Sleep(100 * time.Millisecond) }
	defer func() { beforeScore = nil }()
	began := time.Now()
	ans, err = s.Recommend("recs", "u3", 2, true, nil)
	if took := time.Since(began); took > 80*time.Millisecond {
		t.Errorf("took %s with a 20ms timeout", took)
	}
	if err != nil || ans.Fallback != "timeout" || ans.Model != "popular" || ans.Requested != "recs" || len(ans.Items) != 2 || ans.Items[0].Item != "A" {
		t.Fatalf("timeout: %+v %v", ans, err)
	}
	if len(served) != 2 || served[1].Fallback != "timeout" || served[1].Model != "popular" || served[1].User != "u3" || len(served[1].Items) != 2 {
		t.Errorf("served events: %+v", served)
	}
}

// BenchmarkXGBoostScore scores one customer with the shop's XGBoost
// model (40 trees of depth 3), from served values.
func BenchmarkXGBoostScore(b *testing.B) {
	src, err := os.ReadFile("../examples/shop/ml/buy_again_xgb/model.json")
	if err != nil {
		b.Fatal(err)
	}
	p := &Predictor{Features: []string{"f", "m", "a", "d"}, XGBoost: src}
	vals := []any{json.Number("3"), json.Number("1234.5"), json.Number("411.5"), nil}
	if _, err := p.Score(vals); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Score(vals)
	}
}

// Batch scoring answers a user the model does not know as the API does:
// with the declared fallback model, named in the answer, not with the
// model's own popular items (issue 14, item 16).
func TestBatchAndAPIAnswerUnknownUsersAlike(t *testing.T) {
	d, elsewhere := NewInteractions(), NewInteractions()
	for _, r := range [][2]string{{"u1", "A"}, {"u1", "B"}, {"u2", "A"}, {"u2", "C"}, {"u3", "A"}} {
		d.Add(r[0], r[1], 1, 0)
	}
	for _, r := range [][2]string{{"v1", "C"}, {"v2", "C"}, {"v3", "B"}} { // the fallback's own idea of popular
		elsewhere.Add(r[0], r[1], 1, 0)
	}
	reg := &Registry{Dir: t.TempDir()}
	specs := map[string]*Spec{
		"recs":    {Name: "recs", Algorithm: "sar", Fallback: "popular", Gate: Gate{Metric: "ndcg@10", MinRatio: 1}},
		"popular": {Name: "popular", Algorithm: "most_popular", Gate: Gate{Metric: "ndcg@10", MinRatio: 1}},
	}
	for name, data := range map[string]*Interactions{"recs": d, "popular": elsewhere} {
		a, err := Train(specs[name], data, 1)
		if err != nil {
			t.Fatal(err)
		}
		v := &Version{Model: name, Spec: specs[name], Eval: &EvalResult{Metrics: Metrics{"ndcg@10": 0.1}}}
		if err := reg.Add(v, a); err != nil {
			t.Fatal(err)
		}
		if err := reg.Promote(v, Judge(v, nil, nil), false, "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Registry: reg, Specs: specs}
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	b, err := (&Service{Specs: specs, Registry: reg}).Batch("recs", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"u1", "u3", "nobody", "v1"} {
		api, err := s.Recommend("recs", user, 2, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		batch := b.Recommend(user, 2, true)
		if fmt.Sprintf("%+v", api) != fmt.Sprintf("%+v", batch) {
			t.Errorf("user %s: the API answers %+v, the batch %+v", user, api, batch)
		}
	}
	if a := b.Recommend("nobody", 1, true); a.Model != "popular" || a.Fallback != "unknown_user" || a.Items[0].Item != "C" {
		t.Errorf("an unknown user in batch: %+v, want popular's C with fallback unknown_user", a)
	}
}
