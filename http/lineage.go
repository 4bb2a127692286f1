package http

import (
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strings"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// The lineage graph of one node: its neighbourhood up to N levels up and
// down, laid out left to right in columns by distance (upstream left), and
// drawn as SVG by the server. On 10,000 nodes the graph is never drawn
// whole: a column shows at most maxPerColumn nodes and says how many more
// there are.

const maxPerColumn = 40

// lineageNode is one drawn node.
type lineageNode struct {
	ID, Name, Kind string
	Level          int // negative upstream, 0 the focus, positive downstream
	X, Y           float64
}

// lineage is a laid-out neighbourhood.
type lineage struct {
	Focus         *tandem.Node
	Up, Down      int
	Nodes         []*lineageNode
	Edges         [][2]*lineageNode // parent, child
	Hidden        map[int]int       // level -> nodes not drawn
	Width, Height float64
}

const (
	colWidth  = 260.0
	boxWidth  = 200.0
	boxHeight = 30.0
	rowHeight = 44.0
	margin    = 20.0
)

// layoutLineage walks up and down from focus and places the nodes.
func layoutLineage(p *project.Project, focus *tandem.Node, up, down int, tests bool) *lineage {
	l := &lineage{Focus: focus, Up: up, Down: down, Hidden: map[int]int{}}
	level := map[string]int{focus.ID: 0}
	keep := func(id string) bool { return tests || p.Nodes[id].Kind != tandem.KindTest }
	walk := func(next func(string) []string, sign, depth int) {
		frontier := []string{focus.ID}
		for d := 1; d <= depth && len(frontier) > 0; d++ {
			var nf []string
			for _, id := range frontier {
				for _, o := range next(id) {
					if _, seen := level[o]; seen || !keep(o) {
						continue
					}
					level[o] = sign * d
					nf = append(nf, o)
				}
			}
			frontier = nf
		}
	}
	walk(func(id string) []string { return p.Nodes[id].DependsOn }, -1, up)
	walk(func(id string) []string { return p.Children[id] }, 1, down)

	cols := map[int][]string{}
	for id, lv := range level {
		cols[lv] = append(cols[lv], id)
	}
	for lv := range cols {
		sort.Strings(cols[lv])
	}
	// Order each column by the mean position of its neighbours in the
	// column before it (upstream side first, then downstream), which keeps
	// edges short and mostly uncrossed.
	pos := map[string]float64{}
	place := func(lv int) {
		for i, id := range cols[lv] {
			pos[id] = float64(i)
		}
	}
	barycenter := func(lv int, nbrs func(string) []string) {
		ids := cols[lv]
		score := map[string]float64{}
		for i, id := range ids {
			sum, n := 0.0, 0
			for _, o := range nbrs(id) {
				if q, ok := pos[o]; ok {
					sum += q
					n++
				}
			}
			if n > 0 {
				score[id] = sum / float64(n)
			} else {
				score[id] = float64(i)
			}
		}
		sort.SliceStable(ids, func(a, b int) bool { return score[ids[a]] < score[ids[b]] })
		place(lv)
	}
	place(0)
	for lv := -1; lv >= -up; lv-- { // upstream, outward from the focus
		barycenter(lv, func(id string) []string { return p.Children[id] })
	}
	for lv := 1; lv <= down; lv++ {
		barycenter(lv, func(id string) []string { return p.Nodes[id].DependsOn })
	}
	tallest := 0
	for lv, ids := range cols {
		if len(ids) > maxPerColumn {
			l.Hidden[lv] = len(ids) - maxPerColumn
			cols[lv] = ids[:maxPerColumn]
		}
		tallest = max(tallest, len(cols[lv]))
	}
	lo, hi := 0, 0
	for lv := range cols {
		lo, hi = min(lo, lv), max(hi, lv)
	}
	l.Width = 2*margin + float64(hi-lo)*colWidth + boxWidth
	l.Height = 2*margin + float64(tallest+1)*rowHeight
	byID := map[string]*lineageNode{}
	for lv := lo; lv <= hi; lv++ {
		ids := cols[lv]
		top := margin + float64(tallest-len(ids))*rowHeight/2
		for i, id := range ids {
			n := p.Nodes[id]
			ln := &lineageNode{ID: id, Name: n.Name, Kind: string(n.Kind), Level: lv,
				X: margin + float64(lv-lo)*colWidth, Y: top + float64(i)*rowHeight}
			byID[id] = ln
			l.Nodes = append(l.Nodes, ln)
		}
	}
	for _, child := range l.Nodes {
		for _, dep := range p.Nodes[child.ID].DependsOn {
			if parent, ok := byID[dep]; ok {
				l.Edges = append(l.Edges, [2]*lineageNode{parent, child})
			}
		}
	}
	return l
}

// svg draws the graph; each node links to its own lineage (focus) with
// the same levels.
func (l *lineage) svg(tests bool) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="lineage" class="lineage" role="img" aria-label="lineage of %s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" data-width="%.0f" data-height="%.0f">`,
		template.HTMLEscapeString(l.Focus.Name), l.Width, l.Height, l.Width, l.Height, l.Width, l.Height)
	b.WriteString(`<g id="lineage-view">`)
	for _, e := range l.Edges {
		x1, y1 := e[0].X+boxWidth, e[0].Y+boxHeight/2
		x2, y2 := e[1].X, e[1].Y+boxHeight/2
		mx := (x1 + x2) / 2
		fmt.Fprintf(&b, `<path class="edge" d="M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f"/>`, x1, y1, mx, y1, mx, y2, x2, y2)
	}
	q := url.Values{"up": {fmt.Sprint(l.Up)}, "down": {fmt.Sprint(l.Down)}}
	if tests {
		q.Set("tests", "1")
	}
	for _, n := range l.Nodes {
		cls := "node kind-" + n.Kind
		if n.ID == l.Focus.ID {
			cls += " focus"
		}
		label := n.Name
		if len(label) > 28 {
			label = label[:27] + "…"
		}
		fmt.Fprintf(&b, `<a href="/ui/lineage/%s?%s" data-node="%s"><g class="%s"><title>%s %s</title><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="5"/><text x="%.1f" y="%.1f">%s</text></g></a>`,
			url.PathEscape(n.ID), q.Encode(), template.HTMLEscapeString(n.ID), cls, n.Kind, template.HTMLEscapeString(n.Name),
			n.X, n.Y, boxWidth, boxHeight, n.X+10, n.Y+boxHeight/2+4, template.HTMLEscapeString(label))
	}
	lo := 0
	for _, n := range l.Nodes {
		lo = min(lo, n.Level)
	}
	for lv, more := range l.Hidden {
		fmt.Fprintf(&b, `<text class="more" x="%.1f" y="%.1f">+ %d more</text>`, margin+float64(lv-lo)*colWidth+10, l.Height-margin/2, more)
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}
