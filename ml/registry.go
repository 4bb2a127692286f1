package ml

import (
	"bufio"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
)

// Version is one training run of a model, as the registry keeps it.
type Version struct {
	Model     string         `json:"model"`
	Version   int            `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by"`
	Algorithm string         `json:"algorithm"`
	Params    map[string]any `json:"params"` // every parameter, defaults included
	Spec      *Spec          `json:"spec"`
	SpecHash  string         `json:"spec_sha256"`
	Data      Lineage        `json:"data"`
	Eval      *EvalResult    `json:"evaluation"`
	// Champion is the production version of the time, evaluated again on
	// this version's data and split (when the two differ), so the gate can
	// compare them without the warehouse.
	Champion *Champion `json:"champion,omitempty"`
	// The artifact is trained on all the data; the evaluation on the split.
	TrainSeconds  float64 `json:"train_seconds"`
	ArtifactBytes int64   `json:"artifact_bytes"`
}

// Champion is production's figures on a candidate's test set.
type Champion struct {
	Version int     `json:"version"`
	Metrics Metrics `json:"metrics"`
}

// Lineage is what a version was trained on.
type Lineage struct {
	SQL          string `json:"sql"`
	Relation     string `json:"relation,omitempty"`
	Node         string `json:"node,omitempty"`
	TableVersion int    `json:"table_version,omitempty"` // the latest kept version of the model when trained
	Rows         int    `json:"rows"`
	Dropped      int    `json:"dropped_rows"` // weight <= 0
	Users        int    `json:"users"`
	Items        int    `json:"items"`
	Fingerprint  string `json:"fingerprint"` // row count and content hash of the rows read
	// Predictors: the recorded training set (tandem features rebuild ID),
	// the features, and a brought model's file and its hash.
	TrainingSet     string   `json:"training_set,omitempty"`
	Features        []string `json:"features,omitempty"`
	ModelFile       string   `json:"model_file,omitempty"`
	ModelFileSHA256 string   `json:"model_file_sha256,omitempty"`
}

// Aliases name versions: production and candidate; History is the
// production versions before the current one, for rollback.
type Aliases struct {
	Production int   `json:"production,omitempty"`
	Candidate  int   `json:"candidate,omitempty"`
	History    []int `json:"history,omitempty"`
}

// AuditEntry is one change of an alias.
type AuditEntry struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"` // promote, force_promote, rollback, refused
	Model   string    `json:"model"`
	Version int       `json:"version"`
	From    int       `json:"from,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Verdict *Verdict  `json:"verdict,omitempty"`
}

// Registry keeps versions, their artifacts and aliases in a directory:
// <dir>/<model>/v<N>/{version.json,artifact.gob}, aliases.json, audit.jsonl.
// Files are written to a temporary name and renamed, so a reader sees a
// version whole or not at all.
type Registry struct {
	Dir   string
	Clock func() time.Time
}

func (r *Registry) now() time.Time {
	if r.Clock != nil {
		return r.Clock().UTC()
	}
	return time.Now().UTC()
}

func (r *Registry) modelDir(name string) string { return filepath.Join(r.Dir, name) }

// Versions lists a model's versions, oldest first.
func (r *Registry) Versions(name string) ([]*Version, error) {
	ents, err := os.ReadDir(r.modelDir(name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Version
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "v")
		if _, err := strconv.Atoi(n); !ok || err != nil || !e.IsDir() {
			continue
		}
		v, err := r.readVersion(filepath.Join(r.modelDir(name), e.Name(), "version.json"))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func (r *Registry) readVersion(path string) (*Version, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, tandem.FileErrorf(tandem.EINVALID, path, 0, "not a model version: %v", err)
	}
	return &v, nil
}

// Version returns one version (0: the production version).
func (r *Registry) Version(name string, version int) (*Version, error) {
	if version == 0 {
		al, err := r.Aliases(name)
		if err != nil {
			return nil, err
		}
		if al.Production == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no production version; promote one: tandem ml promote %s@VERSION", name, name)
		}
		version = al.Production
	}
	v, err := r.readVersion(filepath.Join(r.modelDir(name), fmt.Sprintf("v%d", version), "version.json"))
	if os.IsNotExist(err) {
		vs, _ := r.Versions(name)
		if len(vs) == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no versions; train one: tandem ml train %s", name, name)
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no version %d (versions 1 to %d)", name, version, vs[len(vs)-1].Version)
	}
	return v, err
}

// Artifact loads a version's trained model.
func (r *Registry) Artifact(name string, version int) (*Artifact, error) {
	f, err := os.Open(filepath.Join(r.modelDir(name), fmt.Sprintf("v%d", version), "artifact.gob"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var a Artifact
	if err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("model %s v%d: artifact: %v", name, version, err)
	}
	a.index()
	return &a, nil
}

// Add stores a new version with its artifact and makes it the candidate.
func (r *Registry) Add(v *Version, a *Artifact) error {
	dir := r.modelDir(v.Model)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vs, err := r.Versions(v.Model)
	if err != nil {
		return err
	}
	v.Version = 1
	if len(vs) > 0 {
		v.Version = vs[len(vs)-1].Version + 1
	}
	tmp, err := os.MkdirTemp(dir, ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f, err := os.Create(filepath.Join(tmp, "artifact.gob"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := gob.NewEncoder(w).Encode(a); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	st, _ := f.Stat()
	f.Close()
	v.ArtifactBytes = st.Size()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "version.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("v%d", v.Version))); err != nil {
		return err
	}
	return r.setAliases(v.Model, func(al *Aliases) { al.Candidate = v.Version })
}

// Aliases returns a model's aliases.
func (r *Registry) Aliases(name string) (*Aliases, error) {
	var al Aliases
	b, err := os.ReadFile(filepath.Join(r.modelDir(name), "aliases.json"))
	if os.IsNotExist(err) {
		return &al, nil
	}
	if err != nil {
		return nil, err
	}
	return &al, json.Unmarshal(b, &al)
}

func (r *Registry) setAliases(name string, change func(*Aliases)) error {
	al, err := r.Aliases(name)
	if err != nil {
		return err
	}
	change(al)
	b, _ := json.MarshalIndent(al, "", "  ")
	path := filepath.Join(r.modelDir(name), "aliases.json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (r *Registry) audit(e *AuditEntry) error {
	f, err := os.OpenFile(filepath.Join(r.modelDir(e.Model), "audit.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	b, _ := json.Marshal(e)
	_, err = f.Write(append(b, '\n'))
	return err
}

// Audit returns a model's audit log, oldest first.
func (r *Registry) Audit(name string) ([]*AuditEntry, error) {
	f, err := os.Open(filepath.Join(r.modelDir(name), "audit.jsonl"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*AuditEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil {
			out = append(out, &e)
		}
	}
	return out, sc.Err()
}

// Verdict is the promotion gate's answer for a candidate.
type Verdict struct {
	Metric            string  `json:"metric"`
	Candidate         float64 `json:"candidate"`
	Production        float64 `json:"production"`
	ProductionVersion int     `json:"production_version,omitempty"`
	Ratio             float64 `json:"ratio"`
	MinRatio          float64 `json:"min_ratio"`
	Pass              bool    `json:"pass"`
	// Reevaluated: production's figure comes from training its recorded
	// spec again on the candidate's data (the two were trained on
	// different data, so their recorded figures do not compare).
	Reevaluated bool   `json:"reevaluated,omitempty"`
	Why         string `json:"why"`
}

// Judge decides whether cand may replace prod (nil: nothing in production,
// which passes). prodMetric, when not nil, is production's figure on the
// candidate's data.
func Judge(cand, prod *Version, prodMetric *float64) *Verdict {
	g := cand.Spec.Gate
	v := &Verdict{Metric: g.Metric, MinRatio: g.MinRatio}
	v.Candidate = cand.Eval.Metrics[g.Metric]
	if prod == nil {
		v.Pass, v.Why = true, "nothing in production yet"
		return v
	}
	v.ProductionVersion = prod.Version
	v.Production = prod.Eval.Metrics[g.Metric]
	if prodMetric != nil {
		v.Production, v.Reevaluated = *prodMetric, true
	}
	better, worse := v.Candidate, v.Production
	if lowerIsBetter[metricBase(g.Metric)] {
		better, worse = v.Production, v.Candidate // the ratio is production's loss over the candidate's
	}
	switch {
	case worse == 0 && better >= 0:
		v.Ratio = math1(better)
	default:
		v.Ratio = better / worse
	}
	v.Pass = v.Ratio >= g.MinRatio
	cmp := "below"
	if v.Pass {
		cmp = "at least"
	}
	v.Why = fmt.Sprintf("%s %.4f vs production v%d %.4f: ratio %.3f, %s the gate's %.3f", g.Metric, v.Candidate, prod.Version, v.Production, v.Ratio, cmp, g.MinRatio)
	return v
}

func math1(c float64) float64 {
	if c > 0 {
		return 2 // anything beats a production figure of zero
	}
	return 1
}

// Promote makes a version production if the gate passes, or when force
// is set with a reason (audited). The previous production version is kept
// for rollback.
func (r *Registry) Promote(cand *Version, verdict *Verdict, force bool, reason, actor string) error {
	al, err := r.Aliases(cand.Model)
	if err != nil {
		return err
	}
	if al.Production == cand.Version {
		return tandem.Errorf(tandem.ECONFLICT, "%s v%d is already in production", cand.Model, cand.Version)
	}
	entry := &AuditEntry{At: r.now(), Actor: actor, Model: cand.Model, Version: cand.Version, From: al.Production, Reason: reason, Verdict: verdict}
	if !verdict.Pass {
		if !force {
			entry.Action = "refused"
			r.audit(entry)
			return tandem.Errorf(tandem.ECONFLICT, "the promotion gate refuses %s v%d: %s. Improve the model, or promote anyway with --force --reason \"...\" (audited)", cand.Model, cand.Version, verdict.Why)
		}
		if strings.TrimSpace(reason) == "" {
			return tandem.Errorf(tandem.EINVALID, "--force needs --reason: why %s v%d goes to production although the gate refuses it (%s)", cand.Model, cand.Version, verdict.Why)
		}
		entry.Action = "force_promote"
	} else {
		entry.Action = "promote"
	}
	if err := r.setAliases(cand.Model, func(a *Aliases) {
		if a.Production != 0 {
			a.History = append(a.History, a.Production)
		}
		a.Production = cand.Version
		if a.Candidate == cand.Version {
			a.Candidate = 0
		}
	}); err != nil {
		return err
	}
	return r.audit(entry)
}

// Rollback puts the previous production version back.
func (r *Registry) Rollback(name, actor, reason string) (from, to int, err error) {
	al, err := r.Aliases(name)
	if err != nil {
		return 0, 0, err
	}
	if len(al.History) == 0 {
		return 0, 0, tandem.Errorf(tandem.ECONFLICT, "model %s has no earlier production version to roll back to", name)
	}
	from, to = al.Production, al.History[len(al.History)-1]
	if err := r.setAliases(name, func(a *Aliases) {
		a.History = a.History[:len(a.History)-1]
		a.Production = to
	}); err != nil {
		return 0, 0, err
	}
	return from, to, r.audit(&AuditEntry{At: r.now(), Actor: actor, Action: "rollback", Model: name, Version: to, From: from, Reason: reason})
}
