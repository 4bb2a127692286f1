package http

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/ml"
)

// newModelServer serves "recs" (most popular over u1 {A,B}, u2 {A,C},
// u3 {A}) and "conv" (a logistic regression on a driver's conv_rate, made
// by hand) in production as v1, conv reading features from fs.
func newModelServer(t testing.TB, fs *feature.Store) *ml.Server {
	t.Helper()
	spec := &ml.Spec{Name: "recs", Algorithm: "most_popular", Gate: ml.Gate{Metric: "ndcg@10", MinRatio: 1}}
	d := ml.NewInteractions()
	for _, r := range [][2]string{{"u1", "A"}, {"u1", "B"}, {"u2", "A"}, {"u2", "C"}, {"u3", "A"}, {"u3", "C"}} {
		d.Add(r[0], r[1], 1, 0)
	}
	art, err := ml.Train(spec, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg := &ml.Registry{Dir: t.TempDir()}
	v := &ml.Version{Model: "recs", Spec: spec, Eval: &ml.EvalResult{Metrics: ml.Metrics{"ndcg@10": 0.1}}}
	if err := reg.Add(v, art); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(v, ml.Judge(v, nil, nil), false, "", "test"); err != nil {
		t.Fatal(err)
	}
	conv := &ml.Spec{Name: "conv", Kind: "predictor", Algorithm: "logistic_regression", Timeout: "30ms", Gate: ml.Gate{Metric: "auc", MinRatio: 1}}
	cv := &ml.Version{Model: "conv", Spec: conv, Eval: &ml.EvalResult{Metrics: ml.Metrics{"auc": 0.7}}}
	// score = sigmoid(-1 + 2 * (conv_rate - 0.5) / 0.25)
	p := &ml.Predictor{Features: []string{"driver_hourly_stats:conv_rate"}, Prior: 0.3,
		Inputs: []ml.Input{{Feature: "driver_hourly_stats:conv_rate", Kind: "number", Mean: 0.5, Std: 0.25}}, Weights: []float64{2}, Bias: -1}
	if err := reg.Add(cv, &ml.Artifact{Algorithm: "logistic_regression", Predictor: p}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(cv, ml.Judge(cv, nil, nil), false, "", "test"); err != nil {
		t.Fatal(err)
	}
	s := &ml.Server{Registry: reg, Specs: map[string]*ml.Spec{"recs": spec, "conv": conv}, Features: func() *feature.Store { return fs }}
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	return s
}

// slowOnline answers after a delay: a forced timeout.
type slowOnline struct {
	tandem.OnlineStore
	delay time.Duration
}

func (s slowOnline) Get(ctx context.Context, view string, keys []string) ([]*tandem.OnlineRow, error) {
	time.Sleep(s.delay)
	return s.OnlineStore.Get(ctx, view, keys)
}

// TestPredictScoresAndFallsBack: a known driver is scored from its
// online features; an unknown one gets the prior rate; when the online
// store is slower than the spec's timeout, every entity gets the prior
// rate, and each prediction says which answered.
func TestPredictScoresAndFallsBack(t *testing.T) {
	s, secrets := newTestServer(t)
	var ans ml.PredictAnswer
	rec := do(s, "POST", "/api/v1/models/conv/predict", secrets["viewer"], `{"entities": {"driver_id": [1001, 9999]}}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || rec.Code != 200 || len(ans.Predictions) != 2 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// 1001's latest conv_rate is 0.7037: sigmoid(-1 + 2*(0.7037-0.5)/0.25).
	want := 1 / (1 + math.Exp(-(-1 + 2*(0.7037-0.5)/0.25)))
	if p := ans.Predictions[0]; ans.Model != "conv" || ans.Version != 1 || math.Abs(p.Score-want) > 1e-12 || p.Fallback != "" || fmt.Sprint(p.Entity["driver_id"]) != "1001" {
		t.Errorf("known driver: %+v, want score %v", ans, want)
	}
	if p := ans.Predictions[1]; p.Score != 0.3 || p.Fallback != "missing_features" || p.AnsweredBy != "prior_rate" || len(p.Missing) != 1 {
		t.Errorf("unknown driver: %+v", p)
	}
	// One value instead of a list is one entity.
	rec = do(s, "POST", "/api/v1/models/conv/predict", secrets["viewer"], `{"entities": {"driver_id": 1002}}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"driver_id":1002`) {
		t.Errorf("one entity: %d %s", rec.Code, rec.Body)
	}
	for body, code := range map[string]int{
		`{"entities": {}}`:                          400,
		`{"entity": {"driver_id": [1]}}`:            400,
		`{"entities": {"driver_id": {"a": 1}}}`:     400,
		`{"entities": {"driver_id": [1], "x": []}}`: 400,
	} {
		if rec := do(s, "POST", "/api/v1/models/conv/predict", secrets["viewer"], body); rec.Code != code {
			t.Errorf("%s: %d %s, want %d", body, rec.Code, rec.Body, code)
		}
	}
	if rec := do(s, "POST", "/api/v1/models/recs/predict", secrets["viewer"], `{"entities": {"u": [1]}}`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "recommender") {
		t.Errorf("predict on a recommender: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "GET", "/api/v1/models/conv/recommend?user=u1", secrets["viewer"], ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "predictor") {
		t.Errorf("recommend on a predictor: %d %s", rec.Code, rec.Body)
	}

	// The forced timeout: the online store takes 200ms, the spec allows 30ms.
	ms := s.Platform.Models()
	fs := *s.Platform.Features()
	fs.Online = slowOnline{fs.Online, 200 * time.Millisecond}
	ms.Features = func() *feature.Store { return &fs }
	began := time.Now()
	ans = ml.PredictAnswer{}
	rec = do(s, "POST", "/api/v1/models/conv/predict", secrets["viewer"], `{"entities": {"driver_id": [1001]}}`)
	json.Unmarshal(rec.Body.Bytes(), &ans)
	if took := time.Since(began); took > 150*time.Millisecond {
		t.Errorf("the answer took %s; the timeout is 30ms", took)
	}
	if rec.Code != 200 || len(ans.Predictions) != 1 || ans.Predictions[0].Fallback != "timeout" || ans.Predictions[0].AnsweredBy != "prior_rate" || ans.Predictions[0].Score != 0.3 || ans.Version != 1 {
		t.Errorf("timeout: %d %s", rec.Code, rec.Body)
	}
}

func TestRecommendNamesVersionAndFallback(t *testing.T) {
	s, secrets := newTestServer(t)
	var ans ml.Answer
	rec := do(s, "GET", "/api/v1/models/recs/recommend?user=u1&k=2", secrets["viewer"], "")
	json.Unmarshal(rec.Body.Bytes(), &ans)
	if rec.Code != 200 || ans.Version != 1 || len(ans.Items) != 1 || ans.Items[0].Item != "C" || ans.Fallback != "" {
		t.Fatalf("known user: %d %s", rec.Code, rec.Body)
	}
	ans = ml.Answer{}
	rec = do(s, "GET", "/api/v1/models/recs/recommend?user=stranger&k=2", secrets["viewer"], "")
	json.Unmarshal(rec.Body.Bytes(), &ans)
	if rec.Code != 200 || ans.Fallback != "unknown_user" || len(ans.Items) != 2 || ans.Items[0].Item != "A" {
		t.Fatalf("unknown user: %d %s", rec.Code, rec.Body)
	}
	for path, code := range map[string]int{
		"/api/v1/models/recs/recommend":             400,
		"/api/v1/models/recs/recommend?user=u1&k=x": 400,
		"/api/v1/models/rec/recommend?user=u1":      404,
		"/api/v1/models/recs/similar":               400,
	} {
		if rec := do(s, "GET", path, secrets["viewer"], ""); rec.Code != code {
			t.Errorf("%s: %d %s, want %d", path, rec.Code, rec.Body, code)
		}
	}
}
