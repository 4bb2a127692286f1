package ml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-data/tandem"
)

// Service trains models of a project into its registry.
type Service struct {
	Specs     map[string]*Spec
	Warehouse tandem.Warehouse
	Meta      tandem.MetaStore // table versions, for lineage (optional)
	Registry  *Registry
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
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no model %q in ml/*.yml%s", name, suggest(name, names(s.Specs)))
	}
	return sp, nil
}

// Train reads the model's data, evaluates its algorithm on the spec's
// split next to the most-popular baseline, trains it on all the data and
// registers the result as a new version (the candidate).
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
	s.progress("reading the data of %s ...", name)
	d, dropped, err := LoadData(ctx, s.Warehouse, spec)
	if err != nil {
		return nil, err
	}
	v.Data = Lineage{SQL: spec.dataSQL(), Relation: spec.Relation, Node: spec.Node, Rows: d.Len(), Dropped: dropped, Users: len(d.Users), Items: len(d.Items)}
	if fp, err := s.fingerprint(ctx, spec); err == nil {
		v.Data.Fingerprint = fp
	}
	if s.Meta != nil && spec.Node != "" {
		if vs, err := s.Meta.TableVersions(ctx, spec.Node); err == nil && len(vs) > 0 {
			v.Data.TableVersion = vs[0].Version
		}
	}
	s.progress("%d interactions of %d users and %d items; evaluating %s (%s split) ...", d.Len(), len(d.Users), len(d.Items), spec.Algorithm, spec.Evaluation.Split)
	if v.Eval, err = Evaluate(spec, d); err != nil {
		return nil, err
	}
	if v.Champion, err = s.champion(name, v, d); err != nil {
		return nil, err
	}
	s.progress("training %s on all %d interactions ...", spec.Algorithm, d.Len())
	t0 := time.Now()
	a, err := Train(spec, d, spec.Evaluation.Seed)
	if err != nil {
		return nil, err
	}
	v.TrainSeconds = time.Since(t0).Seconds()
	if err := s.Registry.Add(v, a); err != nil {
		return nil, err
	}
	s.progress("registered %s v%d in %.1fs", name, v.Version, time.Since(began).Seconds())
	return v, nil
}

// champion evaluates the production version's spec on a candidate's data
// and split, when they differ from production's own.
func (s *Service) champion(name string, cand *Version, d *Interactions) (*Champion, error) {
	al, err := s.Registry.Aliases(name)
	if err != nil || al.Production == 0 {
		return nil, err
	}
	prod, err := s.Registry.Version(name, al.Production)
	if err != nil {
		return nil, err
	}
	if sameTestSet(prod, cand) {
		return nil, nil
	}
	s.progress("evaluating production v%d on the same split, for the gate ...", prod.Version)
	ps := prod.Spec
	if err := ps.reparse(); err != nil {
		return nil, err
	}
	ps.Evaluation = cand.Spec.Evaluation
	res, err := Evaluate(ps, d)
	if err != nil {
		return nil, err
	}
	return &Champion{Version: prod.Version, Metrics: res.Metrics}, nil
}

func sameTestSet(a, b *Version) bool {
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
	s.progress("production v%d was trained on other data or split; evaluating its spec again on the candidate's data ...", prod.Version)
	ps := prod.Spec
	if err := ps.reparse(); err != nil {
		return nil, nil, err
	}
	if err := cand.Spec.reparse(); err != nil {
		return nil, nil, err
	}
	ps.Evaluation = cand.Spec.Evaluation
	d, _, err := LoadData(ctx, s.Warehouse, cand.Spec)
	if err != nil {
		return nil, nil, err
	}
	res, err := Evaluate(ps, d)
	if err != nil {
		return nil, nil, err
	}
	m := res.Metrics[cand.Spec.Gate.Metric]
	return cand, Judge(cand, prod, &m), nil
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

// Promote promotes a version through the gate (or forced, with a reason).
func (s *Service) Promote(ctx context.Context, name string, version int, force bool, reason, actor string) (*Verdict, error) {
	cand, verdict, err := s.Verdict(ctx, name, version)
	if err != nil {
		return nil, err
	}
	return verdict, s.Registry.Promote(cand, verdict, force, reason, actor)
}
