package http

import (
	"encoding/json"
	"testing"

	"github.com/tandem-data/tandem/ml"
)

// newModelServer serves "recs" (most popular over u1 {A,B}, u2 {A,C},
// u3 {A}) in production as v1.
func newModelServer(t *testing.T) *ml.Server {
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
	s := &ml.Server{Registry: reg, Specs: map[string]*ml.Spec{"recs": spec}}
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	return s
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
