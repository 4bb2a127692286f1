// Package ml trains, evaluates and registers models declared next to the
// data (ml/*.yml): built-in recommenders (most popular, SAR, EASE,
// implicit ALS) written in Go, deterministic given a seed, evaluated
// against the most-popular baseline, versioned in a registry with a
// promotion gate.
package ml

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// Spec is one model declared in ml/*.yml.
type Spec struct {
	Name        string         `yaml:"name" json:"name"`
	Owner       string         `yaml:"owner" json:"owner,omitempty"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Kind        string         `yaml:"kind" json:"kind"`           // recommender or predictor
	Algorithm   string         `yaml:"algorithm" json:"algorithm"` // most_popular, sar, ease, als; logistic_regression, xgboost
	Params      map[string]any `yaml:"params" json:"params,omitempty"`
	Data        Data           `yaml:"data" json:"data"`
	Evaluation  Evaluation     `yaml:"evaluation" json:"evaluation"`
	Gate        Gate           `yaml:"gate" json:"gate"`
	Fallback    string         `yaml:"fallback" json:"fallback,omitempty"` // a model name; most-popular of the same data by default
	Schedule    string         `yaml:"schedule" json:"schedule,omitempty"` // retrain (and promote through the gate) on this cron
	// Predictors: the features they read, as view:feature (or view), or a
	// feature service; at training from the offline store as of each
	// row's timestamp, at serving from the online store.
	Features       []string `yaml:"features" json:"features,omitempty"`
	FeatureService string   `yaml:"feature_service" json:"feature_service,omitempty"`
	// Filters are allow-lists a request can ask for (?filter=NAME): a
	// query whose first column is the items allowed, such as the products
	// in stock. tandem serve runs them at start, at each reload and every
	// minute.
	Filters map[string]string `yaml:"filters" json:"filters,omitempty"`
	// Timeout bounds one served answer (100ms by default); past it the
	// fallback answers, and the response says so.
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
	File    string `yaml:"-" json:"file"`
	Line    int    `yaml:"-" json:"line"`

	// Resolved at load.
	Relation string `yaml:"-" json:"relation,omitempty"` // what Data reads, when it names a model or source
	Node     string `yaml:"-" json:"node,omitempty"`
	// Predictors: each feature as view:feature, and how it is encoded
	// (number, bool, category), from the feature definitions.
	Refs  []string `yaml:"-" json:"refs,omitempty"`
	Kinds []string `yaml:"-" json:"kinds,omitempty"`

	timeout time.Duration
}

func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	type plain Spec
	s.Line = n.Line
	return n.Decode((*plain)(s))
}

// Data is what a model learns from: for a recommender one row per
// interaction; for a predictor one row per example, with the features'
// join keys, a timestamp and the label.
type Data struct {
	Ref       string `yaml:"ref" json:"ref,omitempty"` // a model, seed or source_name.table
	SQL       string `yaml:"sql" json:"sql,omitempty"` // or a query
	CSV       string `yaml:"csv" json:"csv,omitempty"` // or a user,item[,rating][,timestamp] file, relative to the project
	User      string `yaml:"user" json:"user"`
	Item      string `yaml:"item" json:"item"`
	Timestamp string `yaml:"timestamp" json:"timestamp,omitempty"`
	Weight    string `yaml:"weight" json:"weight,omitempty"` // a rating or quantity; 1 per row without
	Label     string `yaml:"label" json:"label,omitempty"`   // predictors: the 0/1 (or true/false) column to predict
	Line      int    `yaml:"-" json:"-"`
}

func (d *Data) UnmarshalYAML(n *yaml.Node) error {
	type plain Data
	d.Line = n.Line
	return n.Decode((*plain)(d))
}

// Evaluation says how a model is scored: a split and metrics at K.
type Evaluation struct {
	Split    string   `yaml:"split" json:"split"`                 // temporal or random_by_user
	Cutoff   string   `yaml:"cutoff" json:"cutoff,omitempty"`     // temporal: train before, test from
	End      string   `yaml:"end" json:"end,omitempty"`           // temporal: test before (optional)
	Fraction float64  `yaml:"fraction" json:"fraction,omitempty"` // random_by_user: share of each user's items in training (0.75)
	Seed     int64    `yaml:"seed" json:"seed"`                   // random_by_user and the algorithms' randomness
	K        int      `yaml:"k" json:"k"`                         // 10
	Metrics  []string `yaml:"metrics" json:"metrics,omitempty"`   // reported; all are computed
	Line     int      `yaml:"-" json:"-"`

	CutoffTime time.Time `yaml:"-" json:"-"`
	EndTime    time.Time `yaml:"-" json:"-"`
}

func (e *Evaluation) UnmarshalYAML(n *yaml.Node) error {
	type plain Evaluation
	e.Line = n.Line
	return n.Decode((*plain)(e))
}

// Gate is the promotion rule: the candidate's Metric must be at least
// MinRatio times production's.
type Gate struct {
	Metric   string  `yaml:"metric" json:"metric"`       // ndcg@10 by default
	MinRatio float64 `yaml:"min_ratio" json:"min_ratio"` // 1.0: same or better
	Line     int     `yaml:"-" json:"-"`
}

func (g *Gate) UnmarshalYAML(n *yaml.Node) error {
	type plain Gate
	g.Line = n.Line
	return n.Decode((*plain)(g))
}

type specFile struct {
	Models []*Spec `yaml:"models"`
}

// Algorithms and the parameters each takes, with their defaults.
var Algorithms = map[string]map[string]any{
	"most_popular": {"window_days": 0.0, "weighted": false},
	"sar":          {"similarity": "jaccard", "time_decay_days": 30.0, "min_cooccurrence": 1.0},
	"ease":         {"lambda": 250.0},
	"als":          {"factors": 64.0, "iterations": 15.0, "regularization": 0.05, "alpha": 10.0, "cg_steps": 3.0},
	// Predictors.
	"logistic_regression": {"l2": 1.0, "max_categories": 20.0},
	"xgboost":             {"model_file": ""}, // trained elsewhere: a JSON model file, relative to the project
}

// KindOf is the spec's kind: as declared, else what its algorithm makes
// (a spec built in code rather than loaded may leave Kind empty).
func (s *Spec) KindOf() string {
	if s.Kind != "" {
		return s.Kind
	}
	return kindOf(s.Algorithm)
}

// kindOf is the kind of model each algorithm makes.
func kindOf(algorithm string) string {
	switch algorithm {
	case "logistic_regression", "xgboost":
		return "predictor"
	}
	return "recommender"
}

// Load reads ml/*.yml of a project. Each error names the file and line.
func Load(p *project.Project) (map[string]*Spec, error) {
	out := map[string]*Spec{}
	files, _ := filepath.Glob(filepath.Join(p.Dir, "ml", "*.yml"))
	more, _ := filepath.Glob(filepath.Join(p.Dir, "ml", "*.yaml"))
	files = append(files, more...)
	sort.Strings(files)
	for _, path := range files {
		rel, _ := filepath.Rel(p.Dir, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var f specFile
		if _, err := project.DecodeYAML(rel, src, &f); err != nil {
			return nil, err
		}
		for _, s := range f.Models {
			s.File = rel
			if prev, dup := out[s.Name]; dup {
				return nil, tandem.FileErrorf(tandem.EINVALID, rel, s.Line, "model %q is defined twice (also %s:%d)", s.Name, prev.File, prev.Line)
			}
			if err := s.check(p); err != nil {
				return nil, err
			}
			out[s.Name] = s
		}
	}
	var reg *feature.Registry
	for _, s := range out {
		if s.Fallback != "" {
			fb, ok := out[s.Fallback]
			if !ok {
				return nil, tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q: fallback %q is not a model of ml/*.yml%s", s.Name, s.Fallback, project.Suggest(s.Fallback, sorted.Keys(out)))
			}
			if fb.Kind != s.Kind {
				return nil, tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q is a %s; its fallback %q is a %s", s.Name, s.Kind, s.Fallback, fb.Kind)
			}
		}
		if s.Kind != "predictor" {
			continue
		}
		if reg == nil {
			var err error
			if reg, err = feature.Load(p); err != nil {
				return nil, err
			}
		}
		if err := s.resolveFeatures(reg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type failFunc func(line int, format string, args ...any) error

func (s *Spec) check(p *project.Project) error {
	fail := func(line int, format string, args ...any) error {
		if line == 0 {
			line = s.Line
		}
		return tandem.FileErrorf(tandem.EINVALID, s.File, line, "model %q: "+format, append([]any{s.Name}, args...)...)
	}
	if s.Name == "" {
		return tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "a model needs a name")
	}
	defaults, ok := Algorithms[s.Algorithm]
	if !ok {
		return fail(0, "algorithm %q is not one of %s%s", s.Algorithm, strings.Join(sorted.Keys(Algorithms), ", "), project.Suggest(s.Algorithm, sorted.Keys(Algorithms)))
	}
	if s.Kind == "" {
		s.Kind = kindOf(s.Algorithm)
	}
	if s.Kind != "recommender" && s.Kind != "predictor" {
		return fail(0, "kind %q: recommender or predictor", s.Kind)
	}
	if s.Kind != kindOf(s.Algorithm) {
		return fail(0, "algorithm %s makes a %s, not a %s", s.Algorithm, kindOf(s.Algorithm), s.Kind)
	}
	if len(s.Filters) > 0 && s.Kind != "recommender" {
		return fail(0, "filters are allow-lists of items, for recommenders")
	}
	for name, sql := range s.Filters {
		if strings.TrimSpace(sql) == "" {
			return fail(0, "filters.%s: give a query whose first column is the items allowed", name)
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			return fail(0, "timeout %q: a duration such as 50ms", s.Timeout)
		}
		s.timeout = d
	}
	for k, v := range s.Params {
		d, ok := defaults[k]
		if !ok {
			return fail(0, "params: %s takes no %q (it takes %s)%s", s.Algorithm, k, strings.Join(sorted.Keys(defaults), ", "), project.Suggest(k, sorted.Keys(defaults)))
		}
		if fmt.Sprintf("%T", d) == "float64" {
			switch x := v.(type) {
			case int:
				s.Params[k] = float64(x)
			case float64:
			default:
				return fail(0, "params.%s must be a number, not %v", k, v)
			}
		} else if fmt.Sprintf("%T", d) != fmt.Sprintf("%T", v) {
			return fail(0, "params.%s must be a %T, not %v", k, d, v)
		}
	}
	if s.Algorithm == "sar" {
		if sim := s.param("similarity").(string); sim != "jaccard" && sim != "lift" && sim != "cooccurrence" {
			return fail(0, "params.similarity %q: jaccard, lift or cooccurrence", sim)
		}
	}
	if err := s.checkSource(p, fail); err != nil {
		return err
	}
	d := &s.Data
	metrics := metricNames
	if s.Kind == "predictor" {
		metrics = predictorMetrics
		if d.Timestamp == "" || d.Label == "" {
			return fail(d.Line, "data: a predictor needs the rows' timestamp (features are joined as of it) and label columns (timestamp: event_timestamp, label: bought_again_30d)")
		}
		if len(s.Features) == 0 && s.FeatureService == "" {
			return fail(0, "name the features it reads: features: [customer_rfm:frequency, ...] or feature_service: NAME")
		}
		if len(s.Features) > 0 && s.FeatureService != "" {
			return fail(0, "give features or feature_service, not both")
		}
		if s.Algorithm == "xgboost" {
			mf, _ := s.param("model_file").(string)
			if mf == "" {
				return fail(0, "params.model_file: the XGBoost model to serve, saved with booster.save_model(\"model.json\"), relative to the project")
			}
			if !filepath.IsAbs(mf) {
				s.Params["model_file"] = filepath.Join(p.Dir, mf)
			}
		}
	} else {
		if len(s.Features) > 0 || s.FeatureService != "" {
			return fail(0, "features and feature_service are for predictors; a recommender learns from data")
		}
		if d.CSV != "" {
			if d.User == "" {
				d.User = "user"
			}
			if d.Item == "" {
				d.Item = "item"
			}
		}
		if d.User == "" || d.Item == "" {
			return fail(d.Line, "data: name the user and item columns (user: customer_id, item: stock_code)")
		}
	}
	if err := s.checkEvaluation(fail); err != nil {
		return err
	}
	e := &s.Evaluation
	for _, m := range e.Metrics {
		if _, ok := metrics[metricBase(m)]; !ok {
			return fail(e.Line, "evaluation.metrics: unknown %q for a %s (%s)%s", m, s.Kind, strings.Join(sorted.Keys(metrics), ", "), project.Suggest(metricBase(m), sorted.Keys(metrics)))
		}
	}
	if s.Gate.Metric == "" {
		s.Gate.Metric = fmt.Sprintf("ndcg@%d", e.K)
		if s.Kind == "predictor" {
			s.Gate.Metric = "auc"
		}
	}
	if _, ok := metrics[metricBase(s.Gate.Metric)]; !ok {
		return fail(s.Gate.Line, "gate.metric %q is not a metric of a %s (%s)", s.Gate.Metric, s.Kind, strings.Join(sorted.Keys(metrics), ", "))
	}
	if s.Gate.MinRatio == 0 {
		s.Gate.MinRatio = 1
	}
	return nil
}

// checkSource checks where the data comes from: a model, a query or a file.
func (s *Spec) checkSource(p *project.Project, fail failFunc) error {
	d := &s.Data
	n := 0
	for _, set := range []bool{d.Ref != "", d.SQL != "", d.CSV != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fail(d.Line, "data: give one of ref (a model), sql or csv")
	}
	if d.Ref != "" {
		node, err := p.Resolve(d.Ref)
		if err != nil {
			return fail(d.Line, "data.ref %v", err)
		}
		s.Relation, s.Node = p.Relation(node).String(), node.ID
	}
	if d.CSV != "" && !filepath.IsAbs(d.CSV) {
		d.CSV = filepath.Join(p.Dir, d.CSV)
	}
	return nil
}

func (s *Spec) checkEvaluation(fail failFunc) error {
	e := &s.Evaluation
	if e.K == 0 && s.Kind == "recommender" {
		e.K = 10
	}
	switch e.Split {
	case "temporal":
		if s.Data.Timestamp == "" {
			return fail(e.Line, "evaluation: a temporal split needs data.timestamp")
		}
		t, err := parseDate(e.Cutoff)
		if err != nil {
			return fail(e.Line, "evaluation.cutoff %q: %v (write 2011-08-01)", e.Cutoff, err)
		}
		e.CutoffTime = t
		if e.End != "" {
			if e.EndTime, err = parseDate(e.End); err != nil {
				return fail(e.Line, "evaluation.end %q: %v", e.End, err)
			}
		}
	case "random_by_user", "random":
		if e.Split == "random" && s.Kind == "recommender" {
			return fail(e.Line, "evaluation.split random: a recommender splits each user's items (random_by_user)")
		}
		if e.Fraction == 0 {
			e.Fraction = 0.75
		}
		if e.Fraction <= 0 || e.Fraction >= 1 {
			return fail(e.Line, "evaluation.fraction %v: the share kept for training, between 0 and 1", e.Fraction)
		}
	default:
		return fail(e.Line, "evaluation.split %q: temporal (with cutoff), random_by_user (recommenders) or random (predictors), with fraction and seed", e.Split)
	}
	return nil
}

// resolveFeatures turns a predictor's features or feature service into
// view:feature references in order, each with its encoding.
func (s *Spec) resolveFeatures(reg *feature.Registry) error {
	var refs []feature.Ref
	var err error
	if s.FeatureService != "" {
		svc, ok := reg.Services[s.FeatureService]
		if !ok {
			return tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q: no feature service %q in features/*.yml%s", s.Name, s.FeatureService, project.Suggest(s.FeatureService, sorted.Keys(reg.Services)))
		}
		refs = svc.Refs
	} else if refs, err = reg.ParseRefs(s.Features); err != nil {
		return tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q: features: %v", s.Name, tandem.ErrorMessage(err))
	}
	s.Refs, s.Kinds = nil, nil
	for _, r := range refs {
		f, _ := reg.Views[r.View].Feature(r.Feature)
		kind := "number"
		switch f.Type {
		case "string":
			kind = "category"
		case "bool":
			kind = "bool"
		case "int64", "int32", "float64", "float32", "double", "":
		default:
			return tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q: feature %s is a %s; a predictor reads numbers, booleans and strings (categories)", s.Name, r, f.Type)
		}
		if kind == "category" && s.Algorithm == "xgboost" {
			return tandem.FileErrorf(tandem.EINVALID, s.File, s.Line, "model %q: feature %s is a string; XGBoost models are served with numeric features (encode it as a number in the feature view)", s.Name, r)
		}
		s.Refs = append(s.Refs, r.String())
		s.Kinds = append(s.Kinds, kind)
	}
	return nil
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date")
}

// param returns a parameter or its default.
func (s *Spec) param(name string) any {
	if v, ok := s.Params[name]; ok {
		return v
	}
	return Algorithms[s.Algorithm][name]
}

// limit is how long one served answer may take before the fallback
// answers: the spec's timeout, 100ms by default.
func (s *Spec) limit() time.Duration {
	if s.timeout > 0 {
		return s.timeout
	}
	if d, err := time.ParseDuration(s.Timeout); err == nil && d > 0 {
		return d
	}
	return 100 * time.Millisecond
}

func (s *Spec) num(name string) float64 { f, _ := s.param(name).(float64); return f }
