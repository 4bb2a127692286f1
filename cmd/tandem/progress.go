package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/conv"
	"github.com/tandem-data/tandem/project"
)

// progress prints one line per finished node. On a terminal it also keeps
// a status line of what is running, redrawn in place.
type progress struct {
	w       io.Writer
	p       *project.Project
	tty     bool
	start   time.Time
	running map[string]bool
	width   int
}

func newProgress(w io.Writer, p *project.Project) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, p: p, tty: tty, running: map[string]bool{}}
}

func (pr *progress) Planned(run *tandem.Run, total int) {
	pr.start = time.Now()
	pr.width = len(fmt.Sprint(total))
	fmt.Fprintf(pr.w, "Tandem %s: project %s, warehouse %s\n", Version, pr.p.Name, rel(pr.p.Dir, pr.p.Target.Path))
	fmt.Fprintf(pr.w, "Run %s: %d nodes\n", run.ID, total)
}

func (pr *progress) Started(n *tandem.Node) {
	pr.running[n.Name] = true
	pr.status()
}

func (pr *progress) Finished(n *tandem.Node, res *tandem.NodeResult, done, total int) {
	delete(pr.running, n.Name)
	pr.clear()
	label := map[tandem.Status]string{tandem.StatusSuccess: "OK", tandem.StatusError: "ERROR", tandem.StatusFail: "FAIL",
		tandem.StatusWarn: "WARN", tandem.StatusSkipped: "SKIP"}[res.Status]
	what := n.Materialized
	detail := ""
	switch {
	case res.Status == tandem.StatusSkipped:
		detail = res.Message
	case n.Kind == tandem.KindTest && res.Status != tandem.StatusError:
		what = "test"
		if res.Rows > 0 {
			detail = fmt.Sprintf("%d failing rows", res.Rows)
		} else {
			detail = "pass"
		}
	case res.Status == tandem.StatusError:
		detail = "see below"
	case n.Materialized == tandem.View:
		detail = "view"
	case n.Materialized == tandem.Incremental && res.TableRows > 0:
		detail = fmt.Sprintf("%s rows added, %s in the table", conv.Thousands(res.Rows), conv.Thousands(res.TableRows))
	default:
		detail = fmt.Sprintf("%s rows", conv.Thousands(res.Rows))
	}
	if res.Attempts > 1 {
		detail += fmt.Sprintf(" (attempt %d)", res.Attempts)
	}
	fmt.Fprintf(pr.w, "  %*d/%d %-5s %-11s %-40s %s in %.2fs\n", pr.width, done, total, label, what, n.Name, detail, res.Duration.Seconds())
	pr.status()
}

func (pr *progress) status() {
	if !pr.tty || len(pr.running) == 0 {
		return
	}
	names := make([]string, 0, len(pr.running))
	for n := range pr.running {
		names = append(names, n)
	}
	sort.Strings(names)
	line := fmt.Sprintf("  running %.0fs: %s", time.Since(pr.start).Seconds(), strings.Join(names, ", "))
	if len(line) > 100 {
		line = line[:97] + "..."
	}
	fmt.Fprint(pr.w, line)
}

func (pr *progress) clear() {
	if pr.tty {
		fmt.Fprint(pr.w, "\r\033[K")
	}
}

func (pr *progress) summary(run *tandem.Run) {
	pr.clear()
	counts := map[tandem.Status]int{}
	var failed []*tandem.NodeResult
	for _, n := range run.Nodes {
		counts[n.Status]++
		if n.Status == tandem.StatusError || n.Status == tandem.StatusFail || n.Status == tandem.StatusWarn {
			failed = append(failed, n)
		}
	}
	fmt.Fprintf(pr.w, "\nDone in %.2fs: %d ok, %d warn, %d failed tests, %d errors, %d skipped.\n",
		run.EndedAt.Sub(run.StartedAt).Seconds(), counts[tandem.StatusSuccess], counts[tandem.StatusWarn],
		counts[tandem.StatusFail], counts[tandem.StatusError], counts[tandem.StatusSkipped])
	for _, f := range failed {
		n := pr.p.Nodes[f.Node]
		fmt.Fprintf(pr.w, "\n%s %s %s:\n  %s\n", strings.ToUpper(string(f.Status)), n.Kind, n.Name, strings.ReplaceAll(f.Message, "\n", "\n  "))
		if n.Kind == tandem.KindTest && f.Status != tandem.StatusError {
			fmt.Fprintf(pr.w, "  see the failing rows: tandem compile -s %s, then tandem show --inline \"<that SQL>\"\n", n.Name)
		}
	}
	if counts[tandem.StatusError]+counts[tandem.StatusFail]+counts[tandem.StatusSkipped] > 0 {
		fmt.Fprintf(pr.w, "\nFix the errors above, then run `tandem retry` to rerun only what failed or was skipped.\n")
	}
}

func rel(base, path string) string {
	if r, err := relPath(base, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
