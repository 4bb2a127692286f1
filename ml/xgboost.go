package ml

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// xgbModel is an XGBoost model read from its JSON file (save_model("x.json"),
// XGBoost 1.x and 2.x) and scored in pure Go, the way XGBoost's CPU
// predictor does: float32 features and thresholds, missing values (NaN)
// following each split's default direction, leaves summed in float32 in
// tree order onto the base margin, then the objective's transform.
type xgbModel struct {
	Objective    string
	FeatureNames []string
	NumFeature   int
	baseMargin   float32
	trees        []xgbTree
}

type xgbTree struct {
	left, right []int32
	feature     []int32
	cond        []float32 // the split threshold, or the leaf value at a leaf
	defaultLeft []bool
}

// xgbObjectives are the objectives served, with how a score is made
// from the margin.
var xgbObjectives = map[string]bool{"binary:logistic": true, "reg:logistic": true, "binary:logitraw": false, "reg:squarederror": false}

func parseXGBoost(src []byte) (*xgbModel, error) {
	var f struct {
		Learner struct {
			FeatureNames []string `json:"feature_names"`
			Params       struct {
				BaseScore  string `json:"base_score"`
				NumClass   string `json:"num_class"`
				NumFeature string `json:"num_feature"`
				NumTarget  string `json:"num_target"`
			} `json:"learner_model_param"`
			Objective struct {
				Name string `json:"name"`
			} `json:"objective"`
			Booster struct {
				Name  string `json:"name"`
				Model struct {
					Trees []struct {
						Left        []int32           `json:"left_children"`
						Right       []int32           `json:"right_children"`
						Indices     []int32           `json:"split_indices"`
						Conditions  []float32         `json:"split_conditions"`
						DefaultLeft []json.RawMessage `json:"default_left"`
						SplitType   []int             `json:"split_type"`
					} `json:"trees"`
				} `json:"model"`
			} `json:"gradient_booster"`
		} `json:"learner"`
		Version []int `json:"version"`
	}
	if err := json.Unmarshal(src, &f); err != nil {
		return nil, fmt.Errorf("not an XGBoost JSON model (save it with booster.save_model(\"model.json\")): %v", err)
	}
	l := f.Learner
	if len(f.Version) == 0 || l.Booster.Name == "" {
		return nil, fmt.Errorf("not an XGBoost JSON model: no learner.gradient_booster (save it with booster.save_model(\"model.json\"))")
	}
	if l.Booster.Name != "gbtree" {
		return nil, fmt.Errorf("booster %q: only gbtree models are served (not dart or gblinear)", l.Booster.Name)
	}
	if _, ok := xgbObjectives[l.Objective.Name]; !ok {
		return nil, fmt.Errorf("objective %q: served are binary:logistic, reg:logistic, binary:logitraw and reg:squarederror", l.Objective.Name)
	}
	if n, _ := strconv.Atoi(l.Params.NumClass); n > 1 {
		return nil, fmt.Errorf("a multi-class model (num_class %d): served are binary classifiers and regressors", n)
	}
	if n, _ := strconv.Atoi(l.Params.NumTarget); n > 1 {
		return nil, fmt.Errorf("a multi-target model (num_target %d) is not served", n)
	}
	base, err := strconv.ParseFloat(l.Params.BaseScore, 32)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param.base_score %q: %v", l.Params.BaseScore, err)
	}
	m := &xgbModel{Objective: l.Objective.Name, FeatureNames: l.FeatureNames}
	m.NumFeature, _ = strconv.Atoi(l.Params.NumFeature)
	switch m.Objective {
	case "binary:logistic", "reg:logistic", "binary:logitraw":
		// XGBoost keeps base_score as a probability; the margin is its logit.
		b := float32(base)
		m.baseMargin = float32(-math.Log(float64(1/b - 1)))
	default:
		m.baseMargin = float32(base)
	}
	for ti, t := range l.Booster.Model.Trees {
		n := len(t.Left)
		if len(t.Right) != n || len(t.Indices) != n || len(t.Conditions) != n || len(t.DefaultLeft) != n {
			return nil, fmt.Errorf("tree %d: its node arrays differ in length", ti)
		}
		for _, st := range t.SplitType {
			if st != 0 {
				return nil, fmt.Errorf("tree %d has categorical splits, which are not served; encode categories as numbers", ti)
			}
		}
		tr := xgbTree{left: t.Left, right: t.Right, feature: t.Indices, cond: t.Conditions, defaultLeft: make([]bool, n)}
		for i, raw := range t.DefaultLeft {
			s := string(raw)
			tr.defaultLeft[i] = s == "1" || s == "true"
		}
		for i := 0; i < n; i++ {
			if t.Left[i] == -1 {
				continue
			}
			if t.Left[i] <= int32(i) || t.Right[i] <= int32(i) || int(t.Left[i]) >= n || int(t.Right[i]) >= n {
				return nil, fmt.Errorf("tree %d node %d: children %d and %d are out of order", ti, i, t.Left[i], t.Right[i])
			}
			if t.Indices[i] < 0 || (m.NumFeature > 0 && int(t.Indices[i]) >= m.NumFeature) {
				return nil, fmt.Errorf("tree %d node %d splits on feature %d of %d", ti, i, t.Indices[i], m.NumFeature)
			}
		}
		m.trees = append(m.trees, tr)
	}
	return m, nil
}

// margin sums the trees' leaves for one row (NaN is missing).
func (m *xgbModel) margin(x []float32) float32 {
	sum := m.baseMargin
	for t := range m.trees {
		tr := &m.trees[t]
		i := int32(0)
		for tr.left[i] != -1 {
			v := x[tr.feature[i]]
			switch {
			case v != v: // NaN: missing
				if tr.defaultLeft[i] {
					i = tr.left[i]
				} else {
					i = tr.right[i]
				}
			case v < tr.cond[i]:
				i = tr.left[i]
			default:
				i = tr.right[i]
			}
		}
		sum += tr.cond[i]
	}
	return sum
}

// predict returns the model's output: a probability for the logistic
// objectives, the margin for the others.
func (m *xgbModel) predict(x []float32) float64 {
	s := m.margin(x)
	if xgbObjectives[m.Objective] {
		return float64(float32(1 / (1 + math.Exp(-float64(s)))))
	}
	return float64(s)
}
