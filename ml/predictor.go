package ml

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Predictor is a trained (logistic regression) or brought (XGBoost)
// model that scores one entity from named features. Its inputs are the
// features' values as the online store serves them.
type Predictor struct {
	Features []string // view:feature, in the model's input order
	Prior    float64  // the rate of positives in training: the fallback's answer
	// Logistic regression: each feature's encoding, then one weight per
	// encoded input.
	Inputs  []Input
	Weights []float64
	Bias    float64
	// XGBoost: the model file as registered (JSON), parsed when loaded.
	XGBoost []byte

	once sync.Once
	xgb  *xgbModel
	err  error
}

// Input is how one feature becomes model inputs: a number or a boolean
// is standardized (a null takes the training mean, so it adds nothing); a
// category is one input per category seen in training (one-hot).
type Input struct {
	Feature    string
	Kind       string // number, bool, category
	Mean, Std  float64
	Categories []string
}

func (p *Predictor) booster() (*xgbModel, error) {
	p.once.Do(func() {
		if p.XGBoost != nil {
			p.xgb, p.err = parseXGBoost(p.XGBoost)
		}
	})
	return p.xgb, p.err
}

// Score returns the probability for one entity's feature values, given
// in the order of Features, as served (json.Number, float64, int64,
// string, bool or nil).
func (p *Predictor) Score(vals []any) (float64, error) {
	if len(vals) != len(p.Features) {
		return 0, fmt.Errorf("%d values for %d features", len(vals), len(p.Features))
	}
	if p.XGBoost != nil {
		m, err := p.booster()
		if err != nil {
			return 0, err
		}
		x := make([]float32, max(m.NumFeature, len(vals)))
		for i, v := range vals {
			f, ok, err := number(v)
			if err != nil {
				return 0, fmt.Errorf("feature %s: %v", p.Features[i], err)
			}
			if !ok {
				f = math.NaN()
			}
			x[i] = float32(f)
		}
		return m.predict(x), nil
	}
	z := p.Bias
	j := 0
	for i, in := range p.Inputs {
		v := vals[i]
		switch in.Kind {
		case "category":
			s := fmt.Sprint(v)
			for c, cat := range in.Categories {
				if v != nil && s == cat {
					z += p.Weights[j+c]
				}
			}
			j += len(in.Categories)
		default:
			f, ok, err := number(v)
			if err != nil {
				return 0, fmt.Errorf("feature %s: %v", in.Feature, err)
			}
			if ok {
				z += p.Weights[j] * (f - in.Mean) / in.Std
			}
			j++
		}
	}
	return sigmoid(z), nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// number reads a served or queried value as a number; ok is false for
// null. Booleans are 0 and 1.
func number(v any) (f float64, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case float64:
		return x, !math.IsNaN(x), nil
	case float32:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case int32:
		return float64(x), true, nil
	case int:
		return float64(x), true, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil, err
	case bool:
		if x {
			return 1, true, nil
		}
		return 0, true, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a number", x)
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("%v (%T) is not a number", v, v)
}

// Table is a predictor's training rows: each row's feature values (as
// queried), its label (0 or 1) and its timestamp.
type Table struct {
	Features []string // view:feature
	Kinds    []string // number, bool, category
	X        [][]any
	Y        []float64
	T        []time.Time
}

func (t *Table) subset(rows []int) *Table {
	out := &Table{Features: t.Features, Kinds: t.Kinds}
	for _, r := range rows {
		out.X = append(out.X, t.X[r])
		out.Y = append(out.Y, t.Y[r])
		out.T = append(out.T, t.T[r])
	}
	return out
}

// label reads a label value: true/false or 0/1.
func label(v any) (float64, error) {
	f, ok, err := number(v)
	if s, isString := v.(string); isString {
		switch s {
		case "true", "TRUE", "True":
			return 1, nil
		case "false", "FALSE", "False":
			return 0, nil
		}
	}
	if err != nil || !ok || (f != 0 && f != 1) {
		return 0, fmt.Errorf("%v is not a label: write 0 or 1, true or false", v)
	}
	return f, nil
}

// splitTable divides rows by the spec's evaluation: temporal (before the
// cutoff trains, from it until the end tests) or random (each row trains
// with probability fraction, from the seed).
func splitTable(s *Spec, t *Table) (train, test *Table) {
	e := &s.Evaluation
	var tr, te []int
	rng := rand.New(rand.NewPCG(uint64(e.Seed), 0x7a6e64656d))
	for i := range t.Y {
		switch e.Split {
		case "temporal":
			switch {
			case t.T[i].Before(e.CutoffTime):
				tr = append(tr, i)
			case e.EndTime.IsZero() || t.T[i].Before(e.EndTime):
				te = append(te, i)
			}
		default:
			if rng.Float64() < e.Fraction {
				tr = append(tr, i)
			} else {
				te = append(te, i)
			}
		}
	}
	return t.subset(tr), t.subset(te)
}

// fitLogistic fits L2-regularized logistic regression by Newton's method
// (iteratively reweighted least squares): exact and deterministic for
// the few dozen inputs a feature service gives.
func fitLogistic(t *Table, l2 float64, maxCategories int) (*Predictor, error) {
	p := &Predictor{Features: t.Features, Prior: mean(t.Y)}
	for j, f := range t.Features {
		in := Input{Feature: f, Kind: t.Kinds[j]}
		if in.Kind == "category" {
			count := map[string]int{}
			for _, row := range t.X {
				if row[j] != nil {
					count[fmt.Sprint(row[j])]++
				}
			}
			for c := range count {
				in.Categories = append(in.Categories, c)
			}
			sort.Slice(in.Categories, func(a, b int) bool {
				ca, cb := in.Categories[a], in.Categories[b]
				if count[ca] != count[cb] {
					return count[ca] > count[cb]
				}
				return ca < cb
			})
			if len(in.Categories) > maxCategories {
				in.Categories = in.Categories[:maxCategories]
			}
		} else {
			var sum, sq float64
			n := 0
			for r, row := range t.X {
				f, ok, err := number(row[j])
				if err != nil {
					return nil, fmt.Errorf("feature %s, training row %d: %v", in.Feature, r+1, err)
				}
				if ok {
					sum += f
					sq += f * f
					n++
				}
			}
			if n > 0 {
				in.Mean = sum / float64(n)
				in.Std = math.Sqrt(max(sq/float64(n)-in.Mean*in.Mean, 0))
			}
			if in.Std < 1e-12 {
				in.Std = 1
			}
		}
		p.Inputs = append(p.Inputs, in)
	}
	d := 0
	for _, in := range p.Inputs {
		if in.Kind == "category" {
			d += len(in.Categories)
		} else {
			d++
		}
	}
	n := len(t.Y)
	// The design matrix with the intercept as its last column.
	X := mat.NewDense(n, d+1, nil)
	for r, row := range t.X {
		j := 0
		for i, in := range p.Inputs {
			if in.Kind == "category" {
				s := fmt.Sprint(row[i])
				for c, cat := range in.Categories {
					if row[i] != nil && s == cat {
						X.Set(r, j+c, 1)
					}
				}
				j += len(in.Categories)
				continue
			}
			if f, ok, _ := number(row[i]); ok {
				X.Set(r, j, (f-in.Mean)/in.Std)
			}
			j++
		}
		X.Set(r, d, 1)
	}
	w := make([]float64, d+1)
	prior := min(max(p.Prior, 1e-6), 1-1e-6)
	w[d] = math.Log(prior / (1 - prior))
	grad := mat.NewVecDense(d+1, nil)
	H := mat.NewSymDense(d+1, nil)
	for iter := 0; iter < 100; iter++ {
		grad.Zero()
		H.Zero()
		hd := H.RawSymmetric().Data
		for r := 0; r < n; r++ {
			x := X.RawRowView(r)
			z := 0.0
			for j, v := range x {
				z += w[j] * v
			}
			pr := sigmoid(z)
			g, h := pr-t.Y[r], pr*(1-pr)
			for j, v := range x {
				if v == 0 {
					continue
				}
				grad.SetVec(j, grad.AtVec(j)+g*v)
				for k := j; k <= d; k++ {
					hd[j*(d+1)+k] += h * v * x[k]
				}
			}
		}
		for j := 0; j < d; j++ { // the intercept is not penalized
			grad.SetVec(j, grad.AtVec(j)+l2*w[j])
			hd[j*(d+1)+j] += l2
		}
		hd[d*(d+1)+d] += 1e-9
		var chol mat.Cholesky
		if !chol.Factorize(H) {
			return nil, fmt.Errorf("logistic regression: the Hessian is not positive definite; raise params.l2")
		}
		var step mat.VecDense
		if err := chol.SolveVecTo(&step, grad); err != nil {
			return nil, fmt.Errorf("logistic regression: %v", err)
		}
		biggest := 0.0
		for j := range w {
			w[j] -= step.AtVec(j)
			biggest = max(biggest, math.Abs(step.AtVec(j)))
		}
		if biggest < 1e-10 {
			break
		}
	}
	p.Weights, p.Bias = w[:d], w[d]
	return p, nil
}

func mean(y []float64) float64 {
	if len(y) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range y {
		s += v
	}
	return s / float64(len(y))
}

// scoreTable scores every row of a table.
func (p *Predictor) scoreTable(t *Table) ([]float64, error) {
	out := make([]float64, len(t.Y))
	for r, row := range t.X {
		s, err := p.Score(row)
		if err != nil {
			return nil, fmt.Errorf("row %d: %v", r+1, err)
		}
		out[r] = s
	}
	return out, nil
}

// evaluatePredictor fits the spec on the split's training rows (or takes
// the brought model as it is) and scores the test rows, next to the
// prior rate of the training rows.
func evaluatePredictor(s *Spec, t *Table, brought *Predictor) (*EvalResult, error) {
	train, test := splitTable(s, t)
	res := &EvalResult{Split: s.Evaluation.Split, TrainRows: len(train.Y), TestRows: len(test.Y)}
	if len(test.Y) == 0 {
		return nil, fmt.Errorf("the %s split leaves no test rows (%d rows in all); move evaluation.cutoff earlier or lower the fraction", s.Evaluation.Split, len(t.Y))
	}
	if r := mean(test.Y); r == 0 || r == 1 {
		return nil, fmt.Errorf("the test rows are all %v; AUC needs both labels", r)
	}
	if len(train.Y) == 0 && brought == nil {
		return nil, fmt.Errorf("the %s split leaves no training rows", s.Evaluation.Split)
	}
	began := time.Now()
	p := brought
	if p == nil {
		var err error
		if p, err = fitPredictor(s, train); err != nil {
			return nil, err
		}
	}
	res.TrainSeconds = time.Since(began).Seconds()
	pred, err := p.scoreTable(test)
	if err != nil {
		return nil, err
	}
	res.Metrics, res.Calibration = ClassifierMetrics(pred, test.Y)
	prior := mean(train.Y)
	if len(train.Y) == 0 {
		prior = mean(test.Y)
	}
	base := make([]float64, len(test.Y))
	for i := range base {
		base[i] = prior
	}
	res.Baseline, _ = ClassifierMetrics(base, test.Y)
	res.PositiveRate = mean(test.Y)
	return res, nil
}

// fitPredictor trains the spec's built-in algorithm on a table.
func fitPredictor(s *Spec, t *Table) (*Predictor, error) {
	switch s.Algorithm {
	case "logistic_regression":
		return fitLogistic(t, s.num("l2"), int(s.num("max_categories")))
	}
	return nil, fmt.Errorf("algorithm %s is not trained by Tandem", s.Algorithm)
}
