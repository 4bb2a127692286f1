package project

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
)

// buildGraph checks every dependency exists, rejects cycles with the path
// that closes them, and orders the nodes upstream first.
func (p *Project) buildGraph() error {
	p.Children = map[string][]string{}
	indeg := map[string]int{}
	for id, n := range p.Nodes {
		indeg[id] += 0
		for _, dep := range n.DependsOn {
			if _, ok := p.Nodes[dep]; !ok {
				return tandem.FileErrorf(tandem.EINVALID, n.Path, n.Line, "%s depends on %s, which does not exist", n.Name, dep)
			}
			p.Children[dep] = append(p.Children[dep], id)
			indeg[id]++
		}
	}
	var ready []string
	for id, d := range indeg {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	sort.Strings(ready)
	order := make([]string, 0, len(p.Nodes))
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		order = append(order, id)
		kids := p.Children[id]
		sort.Strings(kids)
		for _, c := range kids {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(order) < len(p.Nodes) {
		return p.cycleError(indeg)
	}
	p.Order = order
	return nil
}

func (p *Project) cycleError(indeg map[string]int) error {
	// Walk parents among the unsorted nodes until one repeats.
	var start string
	for id, d := range indeg {
		if d > 0 && (start == "" || id < start) {
			start = id
		}
	}
	seen := map[string]int{}
	var path []string
	for cur := start; ; {
		if i, ok := seen[cur]; ok {
			cyc := append(path[i:], cur)
			names := make([]string, len(cyc))
			for k := range cyc {
				names[k] = p.Nodes[cyc[len(cyc)-1-k]].Name
			}
			n := p.Nodes[cur]
			return tandem.FileErrorf(tandem.EINVALID, n.Path, n.Line, "ref cycle: %s; a model cannot depend on itself, directly or through others", strings.Join(names, " -> "))
		}
		seen[cur] = len(path)
		path = append(path, cur)
		for _, dep := range p.Nodes[cur].DependsOn {
			if indeg[dep] > 0 {
				cur = dep
				break
			}
		}
	}
}

// Select returns the IDs matched by dbt-style selectors, in DAG order.
// select and exclude are lists of space-separated unions of comma-separated
// intersections of: name, +name, name+, 2+name, name+1, @name, tag:x,
// path:dir, source:name, resource_type:model, test_type:generic.
// With withTests, a test whose tested nodes are all selected is selected
// too (dbt's cautious indirect selection).
func (p *Project) Select(selectArgs, excludeArgs []string, withTests bool) ([]string, error) {
	chosen := map[string]bool{}
	if len(selectArgs) == 0 {
		for id := range p.Nodes {
			chosen[id] = true
		}
	} else {
		for _, s := range splitSelectors(selectArgs) {
			ids, err := p.selectOne(s)
			if err != nil {
				return nil, err
			}
			for id := range ids {
				chosen[id] = true
			}
		}
		if withTests {
			for id, n := range p.Nodes {
				if n.Kind == tandem.KindTest && !chosen[id] {
					// dbt's "cautious" indirect selection: a test comes
					// along when everything it tests is selected.
					all := len(n.DependsOn) > 0
					for _, d := range n.DependsOn {
						if !chosen[d] {
							all = false
						}
					}
					if all {
						chosen[id] = true
					}
				}
			}
		}
	}
	for _, s := range splitSelectors(excludeArgs) {
		ids, err := p.selectOne(s)
		if err != nil {
			return nil, err
		}
		for id := range ids {
			delete(chosen, id)
		}
	}
	out := make([]string, 0, len(chosen))
	for _, id := range p.Order {
		if chosen[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func splitSelectors(args []string) []string {
	var out []string
	for _, a := range args {
		out = append(out, strings.Fields(a)...)
	}
	return out
}

// selectOne evaluates one union member, which may be an intersection a,b.
func (p *Project) selectOne(sel string) (map[string]bool, error) {
	var result map[string]bool
	for _, part := range strings.Split(sel, ",") {
		ids, err := p.selectAtom(part)
		if err != nil {
			return nil, err
		}
		if result == nil {
			result = ids
			continue
		}
		for id := range result {
			if !ids[id] {
				delete(result, id)
			}
		}
	}
	return result, nil
}

var (
	reUpOp   = regexp.MustCompile(`^(\d*)\+`)
	reDownOp = regexp.MustCompile(`\+(\d*)$`)
)

func (p *Project) selectAtom(atom string) (map[string]bool, error) {
	up, down, at := -1, -1, false
	if strings.HasPrefix(atom, "@") {
		at, atom = true, atom[1:]
	}
	if m := reUpOp.FindStringSubmatch(atom); m != nil {
		up = 1 << 30
		if d, err := strconv.Atoi(m[1]); err == nil {
			up = d
		}
		atom = atom[len(m[0]):]
	}
	if m := reDownOp.FindStringSubmatch(atom); m != nil {
		down = 1 << 30
		if d, err := strconv.Atoi(m[1]); err == nil {
			down = d
		}
		atom = atom[:len(atom)-len(m[0])]
	}
	base := map[string]bool{}
	method, value, hasMethod := strings.Cut(atom, ":")
	if !hasMethod {
		method, value = "name", atom
	}
	for id, n := range p.Nodes {
		var ok bool
		switch method {
		case "name":
			ok = n.Name == value || (n.Kind == tandem.KindSource && strings.HasPrefix(n.Name, value+"."))
			if !ok && strings.ContainsAny(value, "*?") {
				ok, _ = filepath.Match(value, n.Name)
			}
		case "tag":
			for _, t := range n.Tags {
				ok = ok || t == value
			}
		case "path":
			clean := filepath.Clean(value)
			ok = n.Path == clean || strings.HasPrefix(n.Path, clean+string(filepath.Separator))
		case "source":
			ok = n.Kind == tandem.KindSource && (n.Name == value || strings.HasPrefix(n.Name, value+"."))
		case "resource_type":
			ok = string(n.Kind) == value
		case "test_type":
			ok = n.Kind == tandem.KindTest && ((value == "singular") == (n.Test.Name == ""))
		case "config.materialized":
			ok = n.Materialized == value
		default:
			return nil, tandem.Errorf(tandem.EINVALID, "unknown selector method %q in %q; use name, tag:, path:, source:, resource_type:, test_type: or config.materialized:", method, atom)
		}
		if ok {
			base[id] = true
		}
	}
	if len(base) == 0 && method == "name" {
		msg := fmt.Sprintf("--select %q matches no node", atom)
		names := make([]string, 0, len(p.Nodes))
		for _, n := range p.Nodes {
			names = append(names, n.Name)
		}
		if near := nearest(value, names); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s", msg)
	}
	out := map[string]bool{}
	for id := range base {
		out[id] = true
	}
	if up >= 0 {
		p.walkUp(base, up, out)
	}
	if down >= 0 || at {
		if at {
			down = 1 << 30
		}
		desc := map[string]bool{}
		p.walkDown(base, down, desc)
		for id := range desc {
			out[id] = true
		}
		if at {
			p.walkUp(desc, 1<<30, out)
		}
	}
	return out, nil
}

func (p *Project) walkUp(from map[string]bool, depth int, out map[string]bool) {
	frontier := sorted.Keys(from)
	for d := 0; d < depth && len(frontier) > 0; d++ {
		var next []string
		for _, id := range frontier {
			for _, dep := range p.Nodes[id].DependsOn {
				if !out[dep] {
					out[dep] = true
					next = append(next, dep)
				}
			}
		}
		frontier = next
	}
}

func (p *Project) walkDown(from map[string]bool, depth int, out map[string]bool) {
	frontier := sorted.Keys(from)
	for _, id := range frontier {
		out[id] = true
	}
	for d := 0; d < depth && len(frontier) > 0; d++ {
		var next []string
		for _, id := range frontier {
			for _, c := range p.Children[id] {
				if !out[c] {
					out[c] = true
					next = append(next, c)
				}
			}
		}
		frontier = next
	}
}

// ByName returns the model or seed called name.
func (p *Project) ByName(name string) (*tandem.Node, bool) {
	id, ok := p.byName[name]
	if !ok {
		return nil, false
	}
	return p.Nodes[id], true
}

// NearestName suggests a model or seed name close to name.
func (p *Project) NearestName(name string) string { return nearest(name, sorted.Keys(p.byName)) }

// Resolve finds what a reference outside the SQL names (a feature view's
// source, a model's training data): a model or seed by name, or a source
// table as source_name.table. The error says which and suggests a name.
func (p *Project) Resolve(ref string) (*tandem.Node, error) {
	if src, table, ok := strings.Cut(ref, "."); ok {
		if n, ok := p.Source(src, table); ok {
			return n, nil
		}
		return nil, fmt.Errorf("%q is not a source of the project (sources.yml)", ref)
	}
	if n, ok := p.ByName(ref); ok {
		return n, nil
	}
	hint := ""
	if near := p.NearestName(ref); near != "" {
		hint = fmt.Sprintf("; did you mean %q?", near)
	}
	return nil, fmt.Errorf("%q is not a model or seed of the project%s", ref, hint)
}

// Source returns the source table source.table.
func (p *Project) Source(source, table string) (*tandem.Node, bool) {
	id, ok := p.sources[source+"."+table]
	if !ok {
		return nil, false
	}
	return p.Nodes[id], true
}
