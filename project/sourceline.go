package project

import (
	"regexp"
	"strings"

	"github.com/tandem-data/tandem"
)

// SourceLine maps line (1-based) of the SQL compiled for n back to the file
// and line the user wrote. The compiled SQL is the model's template
// rendered (Jinja removes and adds lines) with the ephemeral models it uses
// injected as CTEs, so the mapping aligns the compiled lines with the lines
// of each file that went into it: the longest common subsequence of their
// non-blank lines gives anchors, and a line between anchors is counted from
// the anchor above it. The file whose anchor is nearest wins. It returns
// n's own file and line 0 when nothing aligns.
func (p *Project) SourceLine(n *tandem.Node, compiled string, line int) (string, int) {
	cl := strings.Split(compiled, "\n")
	if line < 1 || line > len(cl) || n.RawSQL == "" {
		return n.Path, 0
	}
	best, bestFile, bestDist := 0, n.Path, len(cl)+1
	for _, c := range append([]*tandem.Node{n}, p.ephemeralsOf(n)...) {
		src, dist := alignLine(cl, strings.Split(c.RawSQL, "\n"), line-1)
		if src > 0 && dist < bestDist {
			best, bestFile, bestDist = src, c.Path, dist
		}
	}
	return bestFile, best
}

// ephemeralsOf lists the ephemeral models whose SQL is injected into n's.
func (p *Project) ephemeralsOf(n *tandem.Node) []*tandem.Node {
	var out []*tandem.Node
	seen := map[string]bool{}
	var walk func(*tandem.Node)
	walk = func(x *tandem.Node) {
		for _, id := range x.DependsOn {
			d := p.Nodes[id]
			if d == nil || seen[id] || d.Materialized != tandem.Ephemeral {
				continue
			}
			seen[id] = true
			out = append(out, d)
			walk(d)
		}
	}
	walk(n)
	return out
}

// maxAlignCells bounds the alignment's table (compiled lines x source lines);
// past it only exact matches of the line are used.
const maxAlignCells = 1 << 20

// alignLine returns the 1-based line of src that compiled line t (0-based)
// came from, and how many lines t is below its anchor (0: t is itself an
// anchor). 0 when no anchor is above t.
func alignLine(compiled, src []string, t int) (line, dist int) {
	a := make([]string, len(compiled))
	for i, s := range compiled {
		a[i] = squeeze(s)
	}
	b := make([]linePattern, len(src))
	for j, s := range src {
		b[j] = patternOf(s)
	}
	eq := func(i, j int) bool { return a[i] != "" && b[j].match(a[i]) }
	if len(a)*len(b) > maxAlignCells {
		for j := range b {
			if eq(t, j) {
				return j + 1, 0
			}
		}
		return 0, 0
	}
	// lcs[i][j]: longest common subsequence of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			switch {
			case eq(i, j):
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
				lcs[i*w+j] = lcs[(i+1)*w+j]
			default:
				lcs[i*w+j] = lcs[i*w+j+1]
			}
		}
	}
	// Walk the alignment, keeping the last anchor at or above t and the
	// first one below it.
	anchorA, anchorB, nextB := -1, -1, len(b)
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case eq(i, j) && lcs[i*w+j] == lcs[(i+1)*w+j+1]+1:
			if i <= t {
				anchorA, anchorB = i, j
			} else if nextB == len(b) {
				nextB = j
			}
			i, j = i+1, j+1
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			i++
		default:
			j++
		}
	}
	if anchorA < 0 {
		return 0, 0
	}
	d := t - anchorA
	return min(anchorB+d, max(nextB-1, anchorB)) + 1, d
}

// squeeze drops every space: rendering changes indentation and spacing.
func squeeze(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// linePattern is a line of a template as it can render: its text, with
// statements and comments gone and each {{ expression }} any text.
type linePattern struct {
	literal string         // no expression: the squeezed text
	re      *regexp.Regexp // with expressions
}

var (
	reJinjaStmt = regexp.MustCompile(`\{%.*?%\}|\{#.*?#\}`)
	reJinjaExpr = regexp.MustCompile(`\{\{.*?\}\}`)
)

func patternOf(line string) linePattern {
	line = squeeze(reJinjaStmt.ReplaceAllString(line, ""))
	if !strings.Contains(line, "{{") {
		return linePattern{literal: line}
	}
	parts := reJinjaExpr.Split(line, -1)
	if strings.Join(parts, "") == "" {
		return linePattern{} // only expressions: anything, so no anchor
	}
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re, err := regexp.Compile("^" + strings.Join(parts, ".*") + "$")
	if err != nil {
		return linePattern{}
	}
	return linePattern{re: re}
}

func (p linePattern) match(s string) bool {
	if p.re != nil {
		return p.re.MatchString(s)
	}
	return p.literal != "" && p.literal == s
}
