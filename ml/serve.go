package ml

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// loaded is one model version in memory.
type loaded struct {
	name    string
	version int
	art     *Artifact
}

// Server answers recommendations with each model's production version.
// Refresh reads the registry's aliases and swaps in a newly promoted (or
// rolled back) version atomically: a request in flight finishes on the
// version it started with, the next gets the new one, none is dropped.
type Server struct {
	Registry *Registry
	Specs    map[string]*Spec
	// Features gives the feature store whose online values predictors
	// read (nil: predictors answer with their fallback).
	Features func() *feature.Store
	// Served, when set, hears every answer, for the served-events log.
	Served func(*Served)
	// Warehouse runs the specs' filters (allow-lists).
	Warehouse tandem.Warehouse

	filters atomic.Pointer[map[string]map[string]map[string]struct{}] // model -> filter -> items

	models atomic.Pointer[map[string]*loaded]
	mu     sync.Mutex // one Refresh at a time
}

// Refresh loads the production version of every model that has one, if
// it is not the version already loaded. It returns what changed.
func (s *Server) Refresh() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*loaded{}
	if m := s.models.Load(); m != nil {
		old = *m
	}
	next := make(map[string]*loaded, len(s.Specs))
	var changed []string
	var firstErr error
	for name := range s.Specs {
		al, err := s.Registry.Aliases(name)
		if err != nil || al.Production == 0 {
			continue
		}
		if l, ok := old[name]; ok && l.version == al.Production {
			next[name] = l
			continue
		}
		art, err := s.Registry.Artifact(name, al.Production)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if l, ok := old[name]; ok {
				next[name] = l // keep serving what works
			}
			continue
		}
		next[name] = &loaded{name: name, version: al.Production, art: art}
		changed = append(changed, fmt.Sprintf("%s v%d", name, al.Production))
	}
	s.models.Store(&next)
	return changed, firstErr
}

// RefreshFilters runs every spec's filters and swaps in the item sets.
// A filter that fails keeps its previous items; the first error is
// returned.
func (s *Server) RefreshFilters(ctx context.Context) error {
	var old map[string]map[string]map[string]struct{}
	if m := s.filters.Load(); m != nil {
		old = *m
	}
	next := map[string]map[string]map[string]struct{}{}
	var firstErr error
	for _, name := range sorted.Keys(s.Specs) {
		sp := s.Specs[name]
		for _, f := range sorted.Keys(sp.Filters) {
			set := map[string]struct{}{}
			err := s.Warehouse.Each(ctx, sp.Filters[f], func(_ []tandem.Column, row []any) error {
				if len(row) > 0 && row[0] != nil {
					set[fmt.Sprint(row[0])] = struct{}{}
				}
				return nil
			})
			if err != nil {
				if firstErr == nil {
					firstErr = tandem.Errorf(tandem.ErrorCode(err), "model %s (%s:%d): filters.%s: %s", name, sp.File, sp.Line, f, tandem.ErrorMessage(err))
				}
				prev, ok := old[name][f]
				if !ok {
					continue
				}
				set = prev
			}
			if next[name] == nil {
				next[name] = map[string]map[string]struct{}{}
			}
			next[name][f] = set
		}
	}
	s.filters.Store(&next)
	return firstErr
}

// Allow returns the allow-list of a model's filters (their
// intersection), nil for none.
func (s *Server) Allow(name string, filters []string) (func(string) bool, error) {
	if len(filters) == 0 {
		return nil, nil
	}
	sp, ok := s.Specs[name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no model %q%s", name, project.Suggest(name, sorted.Keys(s.Specs)))
	}
	var sets []map[string]struct{}
	for _, f := range filters {
		if _, ok := sp.Filters[f]; !ok {
			if len(sp.Filters) == 0 {
				return nil, tandem.Errorf(tandem.EINVALID, "?filter=%s: model %s declares no filters (filters: in its spec)", f, name)
			}
			return nil, tandem.Errorf(tandem.EINVALID, "?filter=%s: model %s has the filters %s%s", f, name, strings.Join(sorted.Keys(sp.Filters), ", "), project.Suggest(f, sorted.Keys(sp.Filters)))
		}
		var set map[string]struct{}
		if m := s.filters.Load(); m != nil {
			set = (*m)[name][f]
		}
		if set == nil {
			return nil, tandem.Errorf(tandem.EUNAVAILABLE, "filter %s of model %s has not been read from the warehouse yet (or its query fails: see the server log)", f, name)
		}
		sets = append(sets, set)
	}
	return func(item string) bool {
		for _, set := range sets {
			if _, ok := set[item]; !ok {
				return false
			}
		}
		return true
	}, nil
}

// Answer is a served response: the items and the version that chose them.
type Answer struct {
	Model   string   `json:"model"`
	Version int      `json:"version"`
	Items   []Scored `json:"items"`
	// Fallback says why another model answered: unknown_user,
	// unknown_item, no_production_version.
	Fallback string `json:"fallback,omitempty"`
	// Requested is the model asked for, when a fallback answered.
	Requested string `json:"requested,omitempty"`
}

// get returns the loaded production version of a model of the kind an
// endpoint serves (nil when it has none), or an error naming what is wrong.
func (s *Server) get(name, kind string) (*loaded, error) {
	if _, ok := s.Specs[name]; !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no model %q%s", name, project.Suggest(name, sorted.Keys(s.Specs)))
	}
	if err := s.kind(name, kind); err != nil {
		return nil, err
	}
	if m := s.models.Load(); m != nil {
		if l, ok := (*m)[name]; ok {
			return l, nil
		}
	}
	return nil, nil
}

// fallback returns the model that answers for name when it cannot.
func (s *Server) fallback(name string) *loaded {
	spec := s.Specs[name]
	if spec.Fallback != "" {
		if l, _ := s.get(spec.Fallback, spec.KindOf()); l != nil {
			return l
		}
	}
	return nil
}

// Recommend returns k items for a user from the model's production
// version, or from its fallback (the fallback model, else the model's own
// most popular items) when the user is unknown or scoring takes longer
// than the spec's timeout, saying so.
func (s *Server) Recommend(name, user string, k int, excludeSeen bool, allow func(string) bool) (*Answer, error) {
	l, err := s.get(name, "recommender")
	if err != nil {
		return nil, err
	}
	if l == nil {
		if fb := s.fallback(name); fb != nil {
			return s.served("recommend", unknownUser(fb, name, "no_production_version", user, k, excludeSeen, allow), user), nil
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no production version (and no fallback has one); train and promote it: tandem ml train %s --promote", name, name)
	}
	type result struct {
		items []Scored
		ok    bool
	}
	done := make(chan result, 1)
	go func() {
		if beforeScore != nil {
			beforeScore(name)
		}
		items, ok := l.art.Recommend(user, k, excludeSeen, allow)
		done <- result{items, ok}
	}()
	timer := time.NewTimer(s.Specs[name].limit())
	defer timer.Stop()
	why := "unknown_user"
	select {
	case r := <-done:
		if r.ok {
			return s.served("recommend", &Answer{Model: name, Version: l.version, Items: r.items}, user), nil
		}
	case <-timer.C:
		why = "timeout"
	}
	fb := s.fallback(name)
	if fb == nil {
		fb = l
	}
	if why == "timeout" {
		// The fallback's precomputed popular items: no second wait.
		return s.served("recommend", &Answer{Model: fb.name, Version: fb.version, Items: fb.art.Popular(k, allow), Fallback: why, Requested: name}, user), nil
	}
	return s.served("recommend", unknownUser(fb, name, why, user, k, excludeSeen, allow), user), nil
}

// beforeScore, when set (by tests), runs before each recommendation is
// scored: how a test forces a timeout.
var beforeScore func(model string)

func (s *Server) kind(name, want string) error {
	if got := s.Specs[name].KindOf(); got != want {
		if got == "predictor" {
			return tandem.Errorf(tandem.EINVALID, "model %s is a predictor: POST /api/v1/models/%s/predict", name, name)
		}
		return tandem.Errorf(tandem.EINVALID, "model %s is a recommender: GET /api/v1/models/%s/recommend?user=", name, name)
	}
	return nil
}

// unknownUser answers with a fallback model: its recommendation when it
// knows the user, else its most popular items. The one rule of the API and
// of batch scoring (Batch).
func unknownUser(fb *loaded, requested, why, user string, k int, excludeSeen bool, allow func(string) bool) *Answer {
	items, ok := fb.art.Recommend(user, k, excludeSeen, allow)
	if !ok {
		items = fb.art.Popular(k, allow)
	}
	return &Answer{Model: fb.name, Version: fb.version, Items: items, Fallback: why, Requested: requested}
}

// Similar returns the k items most similar to item.
func (s *Server) Similar(name, item string, k int, allow func(string) bool) (*Answer, error) {
	l, err := s.get(name, "recommender")
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "model %s has no production version; train and promote it: tandem ml train %s --promote", name, name)
	}
	if items, ok := l.art.Similar(item, k, allow); ok {
		return s.served("similar", &Answer{Model: name, Version: l.version, Items: items}, item), nil
	}
	return s.served("similar", &Answer{Model: name, Version: l.version, Items: l.art.Popular(k, func(it string) bool { return it != item && (allow == nil || allow(it)) }), Fallback: "unknown_item"}, item), nil
}

// Versions returns the loaded production version of each model.
func (s *Server) Versions() map[string]int {
	out := map[string]int{}
	if m := s.models.Load(); m != nil {
		for n, l := range *m {
			out[n] = l.version
		}
	}
	return out
}

// Served is one answer as the served-events log keeps it: which model and
// version answered (and which was asked, when a fallback did), for whom,
// and what it showed, so later pipelines can join clicks and purchases.
type Served struct {
	Endpoint  string    `json:"endpoint"` // recommend, similar, predict
	Model     string    `json:"model"`
	Version   int       `json:"version"`
	Requested string    `json:"requested,omitempty"`
	Fallback  string    `json:"fallback,omitempty"`
	User      string    `json:"user,omitempty"` // the user, or the entity's key for a prediction
	Item      string    `json:"item,omitempty"` // similar: the item asked about
	Items     []string  `json:"items,omitempty"`
	Score     float64   `json:"score,omitempty"` // predict
	At        time.Time `json:"at"`
}

func (s *Server) served(endpoint string, a *Answer, who string) *Answer {
	if s.Served == nil {
		return a
	}
	ev := &Served{Endpoint: endpoint, Model: a.Model, Version: a.Version, Requested: a.Requested, Fallback: a.Fallback, At: time.Now().UTC()}
	if endpoint == "similar" {
		ev.Item = who
	} else {
		ev.User = who
	}
	ev.Items = make([]string, len(a.Items))
	for i, it := range a.Items {
		ev.Items[i] = it.Item
	}
	s.Served(ev)
	return a
}
