package ml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// Service trains models of a project into its registry.
type Service struct {
	Specs     map[string]*Spec
	Warehouse tandem.Warehouse
	Meta      tandem.MetaStore // table versions, for lineage (optional)
	Registry  *Registry
	Features  *feature.Store // predictors' training sets
	// Progress, when set, hears what a long training is doing.
	Progress func(format string, args ...any)
}

func (s *Service) progress(format string, args ...any) {
	if s.Progress != nil {
		s.Progress(format, args...)
	}
}

// Spec returns a model's spec, or an error that names the known ones.
func (s *Service) Spec(name string) (*Spec, error) {
	sp, ok := s.Specs[name]
	if !ok {
		if len(s.Specs) == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "the project declares no models (ml/*.yml)")
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no model %q in ml/*.yml%s", name, project.Suggest(name, sorted.Keys(s.Specs)))
	}
	return sp, nil
}

// Train reads the model's data, evaluates its algorithm on the spec's
// split next to the baseline (most popular, or the prior rate), trains it
// on all the data and registers the result as a new version (the
// candidate).
func (s *Service) Train(ctx context.Context, name, actor string) (*Version, error) {
	spec, err := s.Spec(name)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	v := &Version{Model: name, CreatedAt: time.Now().UTC(), CreatedBy: actor, Algorithm: spec.Algorithm, Spec: spec, Params: map[string]any{}}
	for k := range Algorithms[spec.Algorithm] {
		v.Params[k] = spec.param(k)
	}
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	v.SpecHash = hex.EncodeToString(sum[:])
	v.Data = Lineage{SQL: spec.dataSQL(), Relation: spec.Relation, Node: spec.Node}
	if fp, err := s.fingerprint(ctx, spec); err == nil {
		v.Data.Fingerprint = fp
	}
	if s.Meta != nil && spec.Node != "" {
		if vs, err := s.Meta.TableVersions(ctx, spec.Node); err == nil && len(vs) > 0 {
			v.Data.TableVersion = vs[0].Version
		}
	}
	var a *Artifact
	if spec.Kind == "predictor" {
		a, err = s.trainPredictor(ctx, spec, v)
	} else {
		a, err = s.trainRecommender(ctx, spec, v)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Registry.Add(v, a); err != nil {
		return nil, err
	}
	s.progress("registered %s v%d in %.1fs", name, v.Version, time.Since(began).Seconds())
	return v, nil
}

func (s *Service) trainRecommender(ctx context.Context, spec *Spec, v *Version) (*Artifact, error) {
	s.progress("reading the data of %s ...", spec.Name)
	d, dropped, err := LoadData(ctx, s.Warehouse, spec)
	if err != nil {
		return nil, err
	}
	v.Data.Rows, v.Data.Dropped, v.Data.Users, v.Data.Items = d.Len(), dropped, len(d.Users), len(d.Items)
	s.progress("%d interactions of %d users and %d items; evaluating %s (%s split) ...", d.Len(), len(d.Users), len(d.Items), spec.Algorithm, spec.Evaluation.Split)
	if v.Eval, err = Evaluate(spec, d); err != nil {
		return nil, err
	}
	if v.Champion, err = s.champion(ctx, v, d, nil); err != nil {
		return nil, err
	}
	s.progress("training %s on all %d interactions ...", spec.Algorithm, d.Len())
	t0 := time.Now()
	a, err := Train(spec, d, spec.Evaluation.Seed)
	if err != nil {
		return nil, err
	}
	v.TrainSeconds = time.Since(t0).Seconds()
	return a, nil
}

// predictorTable builds a predictor's training set with the feature
// store: each data row gets its features as known at its timestamp.
func (s *Service) predictorTable(ctx context.Context, spec *Spec) (*Table, *feature.TrainingSet, error) {
	if s.Features == nil {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "model %s reads features, and the project defines none (features/*.yml)", spec.Name)
	}
	refs, err := s.Features.Registry.ParseRefs(spec.Refs)
	if err != nil {
		return nil, nil, err
	}
	s.progress("building the training set of %s: %d features, point in time ...", spec.Name, len(refs))
	ts, rows, err := s.Features.Historical(ctx, &feature.HistoricalRequest{EntitiesSQL: spec.dataSQL(), TimestampColumn: spec.Data.Timestamp, Refs: refs, FullFeatureNames: true})
	if err != nil {
		return nil, nil, tandem.Errorf(tandem.ErrorCode(err), "model %s (%s:%d): training set: %s", spec.Name, spec.File, spec.Line, tandem.ErrorMessage(err))
	}
	col := map[string]int{}
	for i, c := range rows.Columns {
		col[c.Name] = i
	}
	li, ok := col[spec.Data.Label]
	if !ok {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "model %s (%s:%d): the data has no label column %q", spec.Name, spec.File, spec.Data.Line, spec.Data.Label)
	}
	ti := col[spec.Data.Timestamp]
	t := &Table{Features: spec.Refs, Kinds: spec.Kinds}
	fi := make([]int, len(spec.Refs))
	for j, r := range spec.Refs {
		fi[j] = col[strings.Replace(r, ":", "__", 1)]
	}
	for n, row := range rows.Rows {
		y, err := label(row[li])
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "model %s: data row %d: label %s: %v", spec.Name, n+1, spec.Data.Label, err)
		}
		at, err := parseDate(fmt.Sprint(row[ti]))
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "model %s: data row %d: timestamp %s %v: %v", spec.Name, n+1, spec.Data.Timestamp, row[ti], err)
		}
		x := make([]any, len(fi))
		for j, i := range fi {
			x[j] = row[i]
		}
		t.X, t.Y, t.T = append(t.X, x), append(t.Y, y), append(t.T, at)
	}
	return t, ts, nil
}

// brought reads an XGBoost model file and checks it against the spec.
func brought(spec *Spec, prior float64) (*Predictor, error) {
	path, _ := spec.param("model_file").(string)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "model %s (%s:%d): params.model_file: %v", spec.Name, spec.File, spec.Line, err)
	}
	p := &Predictor{Features: spec.Refs, Prior: prior, XGBoost: src}
	m, err := p.booster()
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "model %s: %s: %v", spec.Name, path, err)
	}
	if m.NumFeature != len(spec.Refs) {
		return nil, tandem.Errorf(tandem.EINVALID, "model %s: %s takes %d features and the spec names %d (%s); list them in the model's column order", spec.Name, path, m.NumFeature, len(spec.Refs), strings.Join(spec.Refs, ", "))
	}
	for i, fn := range m.FeatureNames {
		r := spec.Refs[i]
		if fn != r && fn != r[strings.IndexByte(r, ':')+1:] && fn != strings.Replace(r, ":", "__", 1) {
			return nil, tandem.Errorf(tandem.EINVALID, "model %s: %s's feature %d is %q and the spec's is %s; list the features in the model's column order", spec.Name, path, i+1, fn, r)
		}
	}
	return p, nil
}

func (s *Service) trainPredictor(ctx context.Context, spec *Spec, v *Version) (*Artifact, error) {
	t, ts, err := s.predictorTable(ctx, spec)
	if err != nil {
		return nil, err
	}
	v.Data.Rows, v.Data.TrainingSet, v.Data.Features = len(t.Y), ts.ID, spec.Refs
	var own *Predictor
	if spec.Algorithm == "xgboost" {
		if own, err = brought(spec, mean(t.Y)); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(own.XGBoost)
		v.Data.ModelFile, v.Data.ModelFileSHA256 = spec.param("model_file").(string), hex.EncodeToString(sum[:])
	}
	s.progress("%d rows (%.1f%% positive); evaluating %s (%s split) ...", len(t.Y), 100*mean(t.Y), spec.Algorithm, spec.Evaluation.Split)
	if v.Eval, err = evaluatePredictor(spec, t, own); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "model %s (%s:%d): %v", spec.Name, spec.File, spec.Evaluation.Line, err)
	}
	if v.Champion, err = s.champion(ctx, v, nil, t); err != nil {
		return nil, err
	}
	if own != nil {
		return &Artifact{Algorithm: spec.Algorithm, Predictor: own}, nil
	}
	s.progress("training %s on all %d rows ...", spec.Algorithm, len(t.Y))
	t0 := time.Now()
	p, err := fitPredictor(spec, t)
	if err != nil {
		return nil, err
	}
	v.TrainSeconds = time.Since(t0).Seconds()
	return &Artifact{Algorithm: spec.Algorithm, Predictor: p}, nil
}

// champion evaluates the production version on a candidate's data and
// split, when they differ from production's own: a recommender's spec is
// trained again on the candidate's training rows; a predictor likewise,
// or, when brought (XGBoost), its registered model scores the test rows.
// d or t is the candidate's data, already read.
func (s *Service) champion(ctx context.Context, cand *Version, d *Interactions, t *Table) (*Champion, error) {
	al, err := s.Registry.Aliases(cand.Model)
	if err != nil || al.Production == 0 {
		return nil, err
	}
	prod, err := s.Registry.Version(cand.Model, al.Production)
	if err != nil {
		return nil, err
	}
	if sameTestSet(prod, cand) {
		return nil, nil
	}
	s.progress("evaluating production v%d on the same split, for the gate ...", prod.Version)
	m, err := s.evaluateOn(ctx, prod, cand.Spec, d, t)
	if err != nil {
		return nil, err
	}
	return &Champion{Version: prod.Version, Metrics: m}, nil
}

// evaluateOn evaluates version prod on the data and split of spec cand.
func (s *Service) evaluateOn(ctx context.Context, prod *Version, cand *Spec, d *Interactions, t *Table) (Metrics, error) {
	ps := *prod.Spec
	if err := ps.reparse(); err != nil {
		return nil, err
	}
	if err := cand.reparse(); err != nil {
		return nil, err
	}
	ps.Evaluation = cand.Evaluation
	if ps.Kind != "predictor" {
		var err error
		if d == nil {
			if d, _, err = LoadData(ctx, s.Warehouse, cand); err != nil {
				return nil, err
			}
		}
		res, err := Evaluate(&ps, d)
		if err != nil {
			return nil, err
		}
		return res.Metrics, nil
	}
	// The candidate's rows with production's features.
	var err error
	if t == nil || strings.Join(ps.Refs, ",") != strings.Join(cand.Refs, ",") {
		rows := ps
		rows.Data = cand.Data
		rows.Relation, rows.Node = cand.Relation, cand.Node
		if t, _, err = s.predictorTable(ctx, &rows); err != nil {
			return nil, err
		}
	}
	var own *Predictor
	if ps.Algorithm == "xgboost" {
		a, err := s.Registry.Artifact(prod.Model, prod.Version)
		if err != nil {
			return nil, err
		}
		own = a.Predictor
	}
	res, err := evaluatePredictor(&ps, t, own)
	if err != nil {
		return nil, err
	}
	return res.Metrics, nil
}

func sameTestSet(a, b *Version) bool {
	if a.Spec.Kind == "predictor" || b.Spec.Kind == "predictor" {
		// The features' values can change while the rows do not.
		return false
	}
	return a.Data.Fingerprint == b.Data.Fingerprint && specSplit(a.Spec) == specSplit(b.Spec)
}

// fingerprint is the row count and content hash of a model's data.
func (s *Service) fingerprint(ctx context.Context, spec *Spec) (string, error) {
	r, err := s.Warehouse.Query(ctx, "select count(*)::VARCHAR || ':' || coalesce(sum(hash(t)), 0)::VARCHAR from ("+spec.dataSQL()+") t", 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(r.Rows[0][0]), nil
}

// Verdict is the gate's answer for promoting version of name. When the
// production version was trained on other data than the candidate, its
// recorded spec is evaluated again on the candidate's data, so that both
// figures come from the same test set.
func (s *Service) Verdict(ctx context.Context, name string, version int) (*Version, *Verdict, error) {
	cand, err := s.Registry.Version(name, version)
	if err != nil {
		return nil, nil, err
	}
	al, err := s.Registry.Aliases(name)
	if err != nil {
		return nil, nil, err
	}
	if al.Production == 0 || al.Production == version {
		return cand, Judge(cand, nil, nil), nil
	}
	prod, err := s.Registry.Version(name, al.Production)
	if err != nil {
		return nil, nil, err
	}
	if sameTestSet(prod, cand) {
		return cand, Judge(cand, prod, nil), nil
	}
	if c := cand.Champion; c != nil && c.Version == prod.Version {
		m := c.Metrics[cand.Spec.Gate.Metric]
		return cand, Judge(cand, prod, &m), nil
	}
	if s.Warehouse == nil {
		return nil, nil, tandem.Errorf(tandem.EUNAVAILABLE, "production v%d was trained on other data than v%d and after it, so the gate must evaluate it again on v%d's data, which needs the warehouse (held by tandem serve?); stop serve, or train a new version: it evaluates production on its own data", prod.Version, version, version)
	}
	s.progress("production v%d was trained on other data or split; evaluating it again on the candidate's data ...", prod.Version)
	m, err := s.evaluateOn(ctx, prod, cand.Spec, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	v := m[cand.Spec.Gate.Metric]
	return cand, Judge(cand, prod, &v), nil
}

func specSplit(s *Spec) string {
	e := s.Evaluation
	return fmt.Sprintf("%s|%s|%s|%v|%d|%d", e.Split, e.Cutoff, e.End, e.Fraction, e.Seed, e.K)
}

// reparse restores what a spec read back from JSON lacks (parsed times).
func (s *Spec) reparse() error {
	e := &s.Evaluation
	if e.Split == "temporal" {
		t, err := parseDate(e.Cutoff)
		if err != nil {
			return err
		}
		e.CutoffTime = t
		if e.End != "" {
			if e.EndTime, err = parseDate(e.End); err != nil {
				return err
			}
		}
	}
	return nil
}

// TrainAndPromote trains a new version and promotes it if the gate
// passes. A refusal is not an error: the verdict says why, the refusal is
// audited, and production stays.
func (s *Service) TrainAndPromote(ctx context.Context, name, actor string) (*Version, *Verdict, error) {
	v, err := s.Train(ctx, name, actor)
	if err != nil {
		return nil, nil, err
	}
	verdict, err := s.Promote(ctx, name, v.Version, false, "", actor)
	if err != nil && tandem.ErrorCode(err) != tandem.ECONFLICT {
		return v, verdict, err
	}
	return v, verdict, nil
}

// Promote promotes a version through the gate (or forced, with a reason).
func (s *Service) Promote(ctx context.Context, name string, version int, force bool, reason, actor string) (*Verdict, error) {
	cand, verdict, err := s.Verdict(ctx, name, version)
	if err != nil {
		return nil, err
	}
	return verdict, s.Registry.Promote(cand, verdict, force, reason, actor)
}
