package http

import (
	"sort"
	"strings"
	"sync"

	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/ml"
	"github.com/tandem-data/tandem/project"
)

// The catalog is everything a project defines, searchable in one place:
// models, seeds, sources, tests, events, feature views and ML models. The
// index is built once per version of the definitions (a reload makes a
// new one) and a search is one pass over it: on 10,000 nodes that is a
// few milliseconds (BENCHMARKS.md).

// entry is one searchable thing.
type entry struct {
	Kind        string // model, seed, source, test, event, feature_view, ml_model
	Name        string
	Description string
	Owner       string
	Tags        []string
	Columns     []string
	URL         string

	name, text, owner, tags, columns string // lowercased, for matching
}

type catalog struct {
	key     catalogKey
	entries []*entry
}

// catalogKey is what an index was built from.
type catalogKey struct {
	p    *project.Project
	plan *collect.Plan
	reg  *feature.Registry
	ms   *ml.Server
}

// catalogCache holds the current index.
type catalogCache struct {
	mu  sync.Mutex
	cur *catalog
}

// catalogKinds orders kinds in results and in the kind filter.
var catalogKinds = []string{"model", "seed", "source", "test", "event", "feature_view", "ml_model"}

func (c *catalogCache) get(p *project.Project, plan *collect.Plan, fs *feature.Store, ms *ml.Server) *catalog {
	var reg *feature.Registry
	if fs != nil {
		reg = fs.Registry
	}
	var specs map[string]*ml.Spec
	if ms != nil {
		specs = ms.Specs
	}
	key := catalogKey{p, plan, reg, ms}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.key == key {
		return c.cur
	}
	c.cur = buildCatalog(p, plan, reg, specs)
	c.cur.key = key
	return c.cur
}

func buildCatalog(p *project.Project, plan *collect.Plan, reg *feature.Registry, specs map[string]*ml.Spec) *catalog {
	c := &catalog{}
	add := c.add
	if p != nil {
		for _, id := range sorted.Keys(p.Nodes) {
			n := p.Nodes[id]
			e := &entry{Kind: string(n.Kind), Name: n.Name, Description: n.Description, Owner: n.Owner, Tags: n.Tags, URL: "/ui/nodes/" + n.ID}
			for _, col := range n.Columns {
				e.Columns = append(e.Columns, col.Name)
				if col.Description != "" {
					e.Description += " " + col.Description
				}
			}
			add(e)
		}
	}
	if plan != nil {
		for _, name := range sorted.Keys(plan.Events) {
			ev := plan.Events[name]
			add(&entry{Kind: "event", Name: name, Description: ev.Description, Owner: ev.Owner, Columns: sorted.Keys(ev.Properties),
				URL: "/ui/events#" + collect.TableName(name)})
		}
	}
	if reg != nil {
		for _, name := range reg.ViewNames() {
			v := reg.Views[name]
			e := &entry{Kind: "feature_view", Name: name, Description: v.Description, Owner: v.Owner, Tags: v.Tags, URL: "/ui/features/" + name}
			for _, f := range v.Features {
				e.Columns = append(e.Columns, f.Name)
			}
			add(e)
		}
	}
	for _, name := range sorted.Keys(specs) {
		sp := specs[name]
		add(&entry{Kind: "ml_model", Name: name, Description: strings.TrimSpace(sp.Description), Owner: sp.Owner, URL: "/ui/models/" + name})
	}
	return c
}

// add indexes an entry.
func (c *catalog) add(e *entry) {
	e.name = strings.ToLower(e.Name)
	e.owner = strings.ToLower(e.Owner)
	e.tags = strings.ToLower(strings.Join(e.Tags, " "))
	e.columns = strings.ToLower(strings.Join(e.Columns, " "))
	e.text = strings.ToLower(e.Description)
	c.entries = append(c.entries, e)
}

// term is one word of a query, optionally bound to a field:
// owner:ana, tag:daily, column:customer_id, kind:model.
type term struct{ field, text string }

func parseQuery(q string) []term {
	var out []term
	for _, w := range strings.Fields(strings.ToLower(q)) {
		t := term{text: w}
		if f, rest, ok := strings.Cut(w, ":"); ok && rest != "" {
			switch f {
			case "owner", "tag", "column", "kind", "name":
				t = term{field: f, text: rest}
			}
		}
		out = append(out, t)
	}
	return out
}

func (e *entry) matches(t term) bool {
	switch t.field {
	case "owner":
		return strings.Contains(e.owner, t.text)
	case "tag":
		return strings.Contains(e.tags, t.text)
	case "column":
		return strings.Contains(e.columns, t.text)
	case "kind":
		return strings.HasPrefix(e.Kind, t.text)
	case "name":
		return strings.Contains(e.name, t.text)
	}
	return strings.Contains(e.name, t.text) || strings.Contains(e.columns, t.text) || strings.Contains(e.tags, t.text) ||
		strings.Contains(e.owner, t.text) || strings.Contains(e.text, t.text)
}

// hit is a search result and how well its name matches.
type hit struct {
	*entry
	rank int // 0 name equals the query, 1 starts with it, 2 contains it, 3 elsewhere
}

// search returns the entries matching every term of q (and of kind, when
// set), best first, at most limit of them, and how many matched in all.
func (c *catalog) search(q, kind string, limit int) ([]hit, int) {
	terms := parseQuery(q)
	whole := strings.ToLower(strings.TrimSpace(q))
	var hits []hit
	for _, e := range c.entries {
		if kind != "" && e.Kind != kind {
			continue
		}
		ok := true
		for _, t := range terms {
			if !e.matches(t) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		r := 3
		switch {
		case whole == "" || e.name == whole:
			r = 0
		case strings.HasPrefix(e.name, whole):
			r = 1
		case strings.Contains(e.name, whole):
			r = 2
		}
		hits = append(hits, hit{e, r})
	}
	order := map[string]int{}
	for i, k := range catalogKinds {
		order[k] = i
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if order[a.Kind] != order[b.Kind] {
			return order[a.Kind] < order[b.Kind]
		}
		return a.Name < b.Name
	})
	n := len(hits)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, n
}

// counts returns how many entries there are of each kind.
func (c *catalog) counts() map[string]int {
	out := map[string]int{}
	for _, e := range c.entries {
		out[e.Kind]++
	}
	return out
}

// kindLabel names a kind for people.
func kindLabel(k string) string {
	switch k {
	case "feature_view":
		return "feature view"
	case "ml_model":
		return "ML model"
	}
	return k
}
