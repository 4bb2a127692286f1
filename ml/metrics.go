package ml

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// metricNames are the ranking metrics, each at K.
var metricNames = map[string]string{
	"precision": "hits in the top k / k",
	"recall":    "hits in the top k / relevant items",
	"ndcg":      "discounted cumulative gain of the hits / the best possible (binary relevance)",
	"map":       "mean of the precision at each hit / min(k, relevant items)",
	"hit_rate":  "share of users with at least one hit",
	"coverage":  "distinct items recommended / items in the catalogue",
}

// IsCount says a metric counts (users evaluated), rather than measures.
func IsCount(name string) bool { return metricBase(name) == "users" }

// IsShare says a metric lies in [0, 1]: the ranking metrics, AUC,
// accuracy, Brier score and calibration error (log loss does not).
func IsShare(name string) bool {
	b := metricBase(name)
	_, ranking := metricNames[b]
	_, predictor := predictorMetrics[b]
	return ranking || (predictor && b != "logloss")
}

func metricBase(m string) string {
	base, _, _ := strings.Cut(m, "@")
	return base
}

// Metrics are a model's figures on a split, by name ("ndcg@10").
type Metrics map[string]float64

// Get returns a metric, with its @k or without.
func (m Metrics) Get(name string) (float64, bool) {
	v, ok := m[name]
	return v, ok
}

// RankingMetrics scores recommendations against held-out items, averaged
// over users, with binary relevance, as Microsoft Recommenders computes
// them (precision over k even when fewer are relevant; nDCG against the
// ideal ordering of min(k, relevant) hits; MAP@k over min(k, relevant)).
// recs and truth are keyed by user; users without truth are ignored.
func RankingMetrics(recs, truth map[string][]string, k, catalogue int) Metrics {
	var users []string
	for u, t := range truth {
		if len(t) > 0 {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	var prec, rec, ndcg, ap, hits float64
	distinct := map[string]bool{}
	for _, u := range users {
		rel := map[string]bool{}
		for _, it := range truth[u] {
			rel[it] = true
		}
		r := recs[u]
		if len(r) > k {
			r = r[:k]
		}
		var h, dcg, sumPrec float64
		for pos, it := range r {
			distinct[it] = true
			if rel[it] {
				h++
				dcg += 1 / math.Log2(float64(pos)+2)
				sumPrec += h / float64(pos+1)
			}
		}
		var idcg float64
		for pos := 0; pos < min(k, len(rel)); pos++ {
			idcg += 1 / math.Log2(float64(pos)+2)
		}
		prec += h / float64(k)
		rec += h / float64(len(rel))
		ndcg += dcg / idcg
		ap += sumPrec / float64(min(k, len(rel)))
		if h > 0 {
			hits++
		}
	}
	n := float64(len(users))
	out := Metrics{"users": n}
	if n == 0 {
		return out
	}
	at := fmt.Sprintf("@%d", k)
	out["precision"+at] = prec / n
	out["recall"+at] = rec / n
	out["ndcg"+at] = ndcg / n
	out["map"+at] = ap / n
	out["hit_rate"+at] = hits / n
	if catalogue > 0 {
		out["coverage"+at] = float64(len(distinct)) / float64(catalogue)
	}
	return out
}
