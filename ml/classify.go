package ml

import (
	"math"
	"sort"
)

// predictorMetrics are a predictor's figures on its test rows.
var predictorMetrics = map[string]string{
	"auc":               "area under the ROC curve: the chance a positive scores above a negative",
	"logloss":           "mean negative log likelihood of the labels (lower is better)",
	"accuracy":          "share of rows on the right side of 0.5",
	"brier":             "mean squared error of the probability (lower is better)",
	"calibration_error": "expected calibration error over 10 equal-width bins (lower is better)",
}

// lowerIsBetter are the metrics the gate compares the other way round.
var lowerIsBetter = map[string]bool{"logloss": true, "brier": true, "calibration_error": true}

// CalibrationBin is one bin of a reliability diagram: the rows whose
// predicted probability falls in [Low, High), their mean prediction and
// the observed rate of positives.
type CalibrationBin struct {
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Rows      int     `json:"rows"`
	Predicted float64 `json:"mean_predicted"`
	Observed  float64 `json:"observed_rate"`
}

// ClassifierMetrics scores probabilities p against 0/1 labels y.
func ClassifierMetrics(p, y []float64) (Metrics, []CalibrationBin) {
	m := Metrics{}
	n := len(p)
	if n == 0 {
		return m, nil
	}
	var ll, brier float64
	correct := 0
	for i := range p {
		q := min(max(p[i], 1e-15), 1-1e-15)
		if y[i] == 1 {
			ll -= math.Log(q)
		} else {
			ll -= math.Log(1 - q)
		}
		brier += (p[i] - y[i]) * (p[i] - y[i])
		if (p[i] >= 0.5) == (y[i] == 1) {
			correct++
		}
	}
	m["logloss"] = ll / float64(n)
	m["brier"] = brier / float64(n)
	m["accuracy"] = float64(correct) / float64(n)
	m["auc"] = AUC(p, y)
	bins := make([]CalibrationBin, 10)
	for b := range bins {
		bins[b].Low, bins[b].High = float64(b)/10, float64(b+1)/10
	}
	for i := range p {
		b := min(int(p[i]*10), 9)
		bins[b].Rows++
		bins[b].Predicted += p[i]
		bins[b].Observed += y[i]
	}
	var ece float64
	out := bins[:0]
	for _, b := range bins {
		if b.Rows == 0 {
			continue
		}
		b.Predicted /= float64(b.Rows)
		b.Observed /= float64(b.Rows)
		ece += float64(b.Rows) / float64(n) * math.Abs(b.Predicted-b.Observed)
		out = append(out, b)
	}
	m["calibration_error"] = ece
	return m, out
}

// AUC is the Mann-Whitney statistic: the share of (positive, negative)
// pairs in which the positive scores higher, ties counting half.
func AUC(p, y []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j, averaged over the tie
		for _, k := range idx[i:j] {
			if y[k] == 1 {
				rankSum += avg
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0.5 // undefined; evaluation refuses such a test set first
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
