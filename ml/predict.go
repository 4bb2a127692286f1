package ml

import (
	"context"
	"strconv"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
)

// Prediction is one entity's score, and who gave it.
type Prediction struct {
	Entity map[string]any `json:"entity"`
	Score  float64        `json:"score"`
	// Fallback says why the model did not score this entity itself:
	// missing_features (the online store has no values, or only expired
	// ones), timeout, no_production_version; AnsweredBy then names what
	// did: another model (NAME@VERSION) or prior_rate (the rate of
	// positives in the version's training data).
	Fallback   string   `json:"fallback,omitempty"`
	AnsweredBy string   `json:"answered_by,omitempty"`
	Missing    []string `json:"missing_features,omitempty"`
}

// PredictAnswer is a served prediction: the model and version asked.
type PredictAnswer struct {
	Model       string       `json:"model"`
	Version     int          `json:"version"`
	Predictions []Prediction `json:"predictions"`
}

// Predict scores entities (join key -> one value per entity, as the
// online store takes them) with the model's production version, reading
// its features from the online store. An entity whose features are
// missing is scored by the fallback model, or gets the prior rate; when
// the whole answer takes longer than the spec's timeout, every entity
// gets the prior rate. Each prediction says which answered.
func (s *Server) Predict(ctx context.Context, name string, entities map[string][]any) (*PredictAnswer, error) {
	l, err := s.get(name, "predictor")
	if err != nil {
		return nil, err
	}
	n, err := feature.CountEntities(entities)
	if err != nil {
		return nil, err
	}
	if l == nil {
		fb := s.fallback(name)
		if fb == nil {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no production version (and no fallback has one); train and promote it: tandem ml train %s --promote", name, name)
		}
		ans, err := s.scoreWith(ctx, fb, entities, n, false)
		if err != nil {
			return nil, err
		}
		for i := range ans.Predictions {
			p := &ans.Predictions[i]
			if p.Fallback == "" {
				p.Fallback, p.AnsweredBy = "no_production_version", fb.ref()
			}
		}
		ans.Model, ans.Version = name, 0
		return s.servedPredictions(ans), nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.Specs[name].limit())
	defer cancel()
	type result struct {
		ans *PredictAnswer
		err error
	}
	done := make(chan result, 1)
	go func() {
		if beforeScore != nil {
			beforeScore(name)
		}
		ans, err := s.scoreWith(ctx, l, entities, n, true)
		done <- result{ans, err}
	}()
	select {
	case r := <-done:
		if r.err == nil || ctx.Err() == nil {
			if r.err != nil {
				return nil, r.err
			}
			return s.servedPredictions(r.ans), nil
		}
	case <-ctx.Done():
	}
	ans := &PredictAnswer{Model: name, Version: l.version, Predictions: make([]Prediction, n)}
	for e := range ans.Predictions {
		ans.Predictions[e] = Prediction{Entity: entityAt(entities, e), Score: l.art.Predictor.Prior, Fallback: "timeout", AnsweredBy: "prior_rate"}
	}
	return s.servedPredictions(ans), nil
}

func (l *loaded) ref() string { return l.name + "@" + strconv.Itoa(l.version) }

func entityAt(entities map[string][]any, e int) map[string]any {
	m := make(map[string]any, len(entities))
	for k, vals := range entities {
		m[k] = vals[e]
	}
	return m
}

// scoreWith reads l's features for the entities from the online store
// and scores them. With fallback, entities with missing features go to
// the spec's fallback model (which does not fall back further), else to
// the prior rate.
func (s *Server) scoreWith(ctx context.Context, l *loaded, entities map[string][]any, n int, fallback bool) (*PredictAnswer, error) {
	p := l.art.Predictor
	ans := &PredictAnswer{Model: l.name, Version: l.version, Predictions: make([]Prediction, n)}
	var fs *feature.Store
	if s.Features != nil {
		fs = s.Features()
	}
	var vals [][]feature.Value
	if fs != nil {
		var err error
		if _, vals, _, err = fs.Lookup(ctx, &feature.OnlineRequest{Features: p.Features, Entities: entities}); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
	var missing []int
	row := make([]any, len(p.Features))
	for e := 0; e < n; e++ {
		pr := &ans.Predictions[e]
		pr.Entity = entityAt(entities, e)
		for i, f := range p.Features {
			if vals == nil {
				pr.Missing = append(pr.Missing, f)
				continue
			}
			v := vals[i][e]
			if v.Status == feature.NotFound || v.Status == feature.OutsideMaxAge {
				pr.Missing = append(pr.Missing, f)
			}
			row[i] = v.Value
		}
		if len(pr.Missing) > 0 {
			pr.Fallback, pr.AnsweredBy, pr.Score = "missing_features", "prior_rate", p.Prior
			missing = append(missing, e)
			continue
		}
		score, err := p.Score(row)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINTERNAL, "model %s v%d: %v", l.name, l.version, err)
		}
		pr.Score = score
	}
	if !fallback || len(missing) == 0 {
		return ans, nil
	}
	fb := s.fallback(l.name)
	if fb == nil || fb.art.Predictor == nil {
		return ans, nil
	}
	sub := make(map[string][]any, len(entities))
	for k, v := range entities {
		for _, e := range missing {
			sub[k] = append(sub[k], v[e])
		}
	}
	fa, err := s.scoreWith(ctx, fb, sub, len(missing), false)
	if err != nil {
		return nil, err
	}
	for j, e := range missing {
		if fp := fa.Predictions[j]; fp.Fallback == "" {
			pr := &ans.Predictions[e]
			pr.Score, pr.AnsweredBy = fp.Score, fb.ref()
		}
	}
	return ans, nil
}

func (s *Server) servedPredictions(a *PredictAnswer) *PredictAnswer {
	if s.Served == nil {
		return a
	}
	now := time.Now().UTC()
	for _, p := range a.Predictions {
		ev := &Served{Endpoint: "predict", Model: a.Model, Version: a.Version, Fallback: p.Fallback, User: feature.KeyString(values(p.Entity)), Score: p.Score, At: now}
		if p.Fallback != "" {
			ev.Requested = a.Model
		}
		s.Served(ev)
	}
	return a
}

// values are an entity's join key values in key order.
func values(m map[string]any) []any {
	ks := sorted.Keys(m)
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = m[k]
	}
	return out
}
