package ml

import (
	"runtime"
	"sync"
	"time"
)

// EvalResult is a model's figures on the spec's split, next to the
// most-popular baseline on the same split.
type EvalResult struct {
	Split        string  `json:"split"`
	K            int     `json:"k,omitempty"`
	TrainRows    int     `json:"train_rows"`
	TestRows     int     `json:"test_rows"`
	Users        int     `json:"users,omitempty"`         // test users the model knows
	UnknownUsers int     `json:"unknown_users,omitempty"` // test users without training rows (served by the fallback)
	Metrics      Metrics `json:"metrics"`
	Baseline     Metrics `json:"baseline"` // most popular (recommenders) or the prior rate (predictors), same split
	TrainSeconds float64 `json:"train_seconds"`
	// Predictors: the test rows' rate of positives and a reliability diagram.
	PositiveRate float64          `json:"positive_rate,omitempty"`
	Calibration  []CalibrationBin `json:"calibration,omitempty"`
}

// Evaluate trains the spec's algorithm on the split's training rows and
// scores its top k (seen items removed) against the held-out items.
func Evaluate(s *Spec, d *Interactions) (*EvalResult, error) {
	e := &s.Evaluation
	sp := SplitData(d, e)
	res := &EvalResult{Split: e.Split, K: e.K, TrainRows: sp.Train.Len(), TestRows: sp.TestRows, Users: len(sp.Test), UnknownUsers: sp.UnknownUsers}
	began := time.Now()
	a, err := Train(s, sp.Train, e.Seed)
	if err != nil {
		return nil, err
	}
	res.TrainSeconds = time.Since(began).Seconds()
	res.Metrics = score(a, sp, e.K)
	base := &Spec{Algorithm: "most_popular"}
	b, err := Train(base, sp.Train, e.Seed)
	if err != nil {
		return nil, err
	}
	res.Baseline = score(b, sp, e.K)
	return res, nil
}

func score(a *Artifact, sp *Split, k int) Metrics {
	users := make([]int32, 0, len(sp.Test))
	for u := range sp.Test {
		users = append(users, u)
	}
	recs := make([][]string, len(users))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := w; n < len(users); n += workers {
				r, _ := a.Recommend(sp.Train.Users[users[n]], k, true, nil)
				for _, x := range r {
					recs[n] = append(recs[n], x.Item)
				}
			}
		}(w)
	}
	wg.Wait()
	byUser := make(map[string][]string, len(users))
	truth := make(map[string][]string, len(users))
	for n, u := range users {
		name := sp.Train.Users[u]
		byUser[name] = recs[n]
		truth[name] = sp.Test[u]
	}
	return RankingMetrics(byUser, truth, k, len(a.Items))
}
