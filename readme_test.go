package tandem_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line  int // README line of the block's first command
	lines []string
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeBlock
	var cur *readmeBlock
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh":
			cur = &readmeBlock{line: n + 1}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		}
	}
	return out
}

// The README's only rewrites, each what the README itself tells the reader:
// "put a built tandem on your PATH and drop the go run", and the test
// command is this very run.
var (
	reGoRun  = regexp.MustCompile(`\bgo run \./cmd/tandem\b`)
	reGoTest = regexp.MustCompile(`^go test \./\.\.\.\s*$`)
)

// TestREADMERunsAsWritten runs every command block of README.md, in order,
// in one shell, as a newcomer at a terminal would: the quickstart on the
// shop, the CLI, tandem serve and curl, the collector, the feature store
// and the models, with the real binary (built here) on the PATH. A command
// that fails fails the test with its README line, so that the README
// cannot drift from what Tandem does (issue 14, item 15).
func TestREADMERunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README's commands take about two minutes")
	}
	require := os.Getenv("TANDEM_REQUIRE_SERVICES") != ""
	missing := func(what string) {
		t.Helper()
		if require {
			t.Fatalf("the README's commands need %s (TANDEM_REQUIRE_SERVICES is set)", what)
		}
		t.Skipf("the README's commands need %s", what)
	}
	for _, tool := range []string{"bash", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool)
		}
	}
	// train.py needs NumPy and XGBoost; Debian's python3-xgboost installs
	// them for /usr/bin/python3, which a pyenv or venv python3 first on the
	// PATH does not see: then the README's python3 is Debian's.
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import numpy, xgboost").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		missing("python3 with numpy and xgboost (apt-get install python3-xgboost)")
	}
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		missing("port 8080 free, as tandem serve listens there in the README (" + err.Error() + ")")
	} else {
		ln.Close()
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "tandem"), "./cmd/tandem")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tandem: %v\n%s", err, out)
	}
	if python != "python3" {
		if err := os.Symlink(python, filepath.Join(bin, "python3")); err != nil {
			t.Fatal(err)
		}
	}

	// One script, one shell: variables ($TOKEN, $SERVE), the folder and
	// background jobs carry from block to block. lineOf maps the script's
	// lines back to README.md's.
	var script strings.Builder
	lineOf := map[int]int{}
	n := 0
	emit := func(readme int, s string) {
		n++
		if readme > 0 {
			lineOf[n] = readme
		}
		script.WriteString(s + "\n")
	}
	emit(0, "set -euo pipefail")
	emit(0, `trap 'echo "README_FAILED $LINENO: $BASH_COMMAND" >&2' ERR`)
	emit(0, `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT`)
	blocks := readmeBlocks(t)
	commands := 0
	for _, b := range blocks {
		emit(0, fmt.Sprintf("echo '--- README.md:%d' >&2", b.line))
		for i, l := range b.lines {
			switch {
			case reGoTest.MatchString(l):
				l = "# " + l + "   (the test command: this run)"
			case strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
				commands++
			}
			emit(b.line+i, reGoRun.ReplaceAllString(l, "tandem"))
		}
	}
	if len(blocks) < 6 || commands < 25 {
		t.Fatalf("found %d sh blocks with %d commands in README.md: did the fences change?", len(blocks), commands)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	work := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second // tandem serve, if left running, is killed by the EXIT trap
	began := time.Now()
	err := cmd.Run()
	t.Logf("%d blocks, %d commands of README.md in %.0fs", len(blocks), commands, time.Since(began).Seconds())
	if err != nil {
		where := "an unknown line"
		if m := regexp.MustCompile(`README_FAILED (\d+): (.*)`).FindStringSubmatch(stderr.String()); m != nil {
			sl, _ := strconv.Atoi(m[1])
			where = fmt.Sprintf("README.md:%d (%s)", lineOf[sl], m[2])
		}
		t.Fatalf("the README's commands failed at %s: %v\nstdout (end):\n%s\nstderr (end):\n%s", where, err, tail(stdout.String(), 3000), tail(stderr.String(), 3000))
	}
	// The commands ran; a few results that say they did what the README claims.
	for _, want := range []string{
		"Done in",                            // the quickstart's build
		"product_recs v1",                    // its models
		`"name":"hourly_marts"`,              // curl /api/v1/jobs
		"Identical to the recorded training", // features rebuild latest
	} {
		if !strings.Contains(stdout.String(), want) && !strings.Contains(stderr.String(), want) {
			t.Errorf("the README's commands ran, but their output lacks %q\nstdout (end):\n%s", want, tail(stdout.String(), 3000))
		}
	}
	shop := filepath.Join(work, "tandem-shop")
	for _, f := range []string{"recs.csv", "train.parquet", "again.parquet", "ml/buy_again_xgb/model.json"} {
		if _, err := os.Stat(filepath.Join(shop, f)); err != nil {
			t.Errorf("the README's commands should have written %s: %v", f, err)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
