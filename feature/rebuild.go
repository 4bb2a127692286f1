package feature

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// Latest is the id of the training set recorded last, so that a rebuild
// can be asked for without copying an id ("latest").
const Latest = "latest"

// Record reads a training set's record by id, or the newest one for Latest.
func (s *Store) Record(id string) (*TrainingSet, error) {
	if s.Dir == "" {
		return nil, tandem.Errorf(tandem.EINTERNAL, "no training set directory")
	}
	if id == Latest {
		return s.latestRecord()
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, id+".json"))
	if os.IsNotExist(err) {
		var ids []string
		if ms, _ := filepath.Glob(filepath.Join(s.Dir, "ts_*.json")); len(ms) > 0 {
			for _, m := range ms {
				ids = append(ids, strings.TrimSuffix(filepath.Base(m), ".json"))
			}
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no training set %q in %s%s", id, s.Dir, project.Suggest(id, ids))
	}
	if err != nil {
		return nil, err
	}
	var ts TrainingSet
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, tandem.FileErrorf(tandem.EINVALID, filepath.Join(s.Dir, id+".json"), 0, "not a training set record: %v", err)
	}
	return &ts, nil
}

func (s *Store) latestRecord() (*TrainingSet, error) {
	ms, _ := filepath.Glob(filepath.Join(s.Dir, "ts_*.json"))
	var newest *TrainingSet
	for _, m := range ms {
		ts, err := s.Record(strings.TrimSuffix(filepath.Base(m), ".json"))
		if err != nil {
			return nil, err
		}
		if newest == nil || ts.CreatedAt.After(newest.CreatedAt) {
			newest = ts
		}
	}
	if newest == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no training set is recorded in %s yet: build one with `tandem features historical ... --out FILE`", s.Dir)
	}
	return newest, nil
}

// RebuildResult is a rebuilt training set and what it read.
type RebuildResult struct {
	Original *TrainingSet      `json:"original"`
	Rebuilt  *TrainingSet      `json:"rebuilt"`
	Read     map[string]string `json:"read"` // view -> the relation that held the recorded rows
	// Identical: the output's fingerprint equals the recorded one.
	Identical bool `json:"identical"`
}

// Rebuild builds a recorded training set again into out, exactly: with
// the view definitions as they were recorded (not as they are now), the
// entity rows as they were read, and for each source the relation (the
// live table or one of its kept versions) whose rows have the recorded
// fingerprint. A source whose recorded rows are gone is an error that
// says so; nothing is approximated.
func (s *Store) Rebuild(ctx context.Context, id, out string) (*RebuildResult, error) {
	orig, err := s.Record(id)
	if err != nil {
		return nil, err
	}
	id = orig.ID // "latest" resolved
	if orig.EntitiesCopy == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "training set %s was recorded without a copy of its entity rows (before Tandem kept them); build it again with tandem features historical", id)
	}
	if _, err := os.Stat(orig.EntitiesCopy); err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "training set %s: its entity rows %s are gone (%v); they are kept next to the record in %s", id, orig.EntitiesCopy, err, s.Dir)
	}
	var defs map[string]*View
	if err := json.Unmarshal(orig.Definitions, &defs); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "training set %s: recorded definitions: %v", id, err)
	}
	for _, v := range defs {
		if v.Stream == nil {
			continue
		}
		for i := range v.Stream.Aggregations {
			a := &v.Stream.Aggregations[i]
			if a.Window, err = ParseDuration(a.WindowText); err != nil {
				return nil, tandem.Errorf(tandem.EINVALID, "training set %s: view %s: window %q: %v", id, v.Name, a.WindowText, err)
			}
		}
	}
	res := &RebuildResult{Original: orig, Read: map[string]string{}}
	for _, sv := range orig.Sources {
		v, ok := defs[sv.View]
		if !ok {
			return nil, tandem.Errorf(tandem.EINVALID, "training set %s: source of %s without its definition", id, sv.View)
		}
		rel, err := s.findRows(ctx, v, sv)
		if err != nil {
			return nil, tandem.Errorf(tandem.ECONFLICT, "training set %s: %v", id, tandem.ErrorMessage(err))
		}
		v.Relation = rel
		res.Read[sv.View] = rel
	}
	refs := make([]Ref, len(orig.Features))
	for i, f := range orig.Features {
		view, feat, _ := strings.Cut(f, ":")
		refs[i] = Ref{View: view, Feature: feat}
	}
	// The recorded definitions in a store of their own; no record of the
	// rebuild itself (it is the recorded training set).
	rs := &Store{Registry: &Registry{Views: defs}, Warehouse: s.Warehouse, Clock: s.Clock}
	if res.Rebuilt, _, err = rs.Historical(ctx, &HistoricalRequest{EntitiesFile: orig.EntitiesCopy, TimestampColumn: orig.TimestampCol,
		Refs: refs, FullFeatureNames: orig.FullNames, FilterCreated: orig.FilterCreated, Out: out}); err != nil {
		return nil, err
	}
	res.Identical = orig.OutFingerprint != "" && res.Rebuilt.OutFingerprint == orig.OutFingerprint
	return res, nil
}

// findRows returns the relation that holds the rows a training set read
// from a view's source: the live table, or a version kept of it.
func (s *Store) findRows(ctx context.Context, v *View, sv SourceVersion) (string, error) {
	if sv.Fingerprint == "" {
		return "", fmt.Errorf("view %s: the record has no fingerprint of its source rows", v.Name)
	}
	candidates := []string{sv.Relation}
	if s.Meta != nil && v.Node != "" {
		if vs, err := s.Meta.TableVersions(ctx, v.Node); err == nil {
			for _, tv := range vs {
				schema, name, _ := strings.Cut(tv.Stored, ".")
				candidates = append(candidates, q(schema)+"."+q(name))
			}
		}
	}
	var seen []string
	for _, rel := range candidates {
		fp, err := fingerprint(ctx, s.Warehouse, rel)
		if err != nil {
			continue // a version dropped from the warehouse
		}
		if fp == sv.Fingerprint {
			return rel, nil
		}
		seen = append(seen, rel+" ("+fp+")")
	}
	return "", fmt.Errorf("view %s: no table holds the rows it read from %s (%s rows:hash); looked at %s. The rows changed and no kept version has them: raise keep_versions in tandem.yml to keep more versions of %s",
		v.Name, sv.Relation, sv.Fingerprint, strings.Join(seen, ", "), v.Source)
}
