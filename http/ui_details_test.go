package http

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The UI details the newcomer found (issue 14, item 16): a share's axis
// stays within [0, 1], a count is a whole number, and no breadcrumb ends
// with a bare slash.
func TestUIDetails(t *testing.T) {
	chart := string(lineChart([]float64{0.8204}, 0, "auc", true))
	for _, m := range regexp.MustCompile(`<text x="4" y="[0-9.]+">([0-9.-]+)</text>`).FindAllStringSubmatch(chart, -1) {
		if v, _ := strconv.ParseFloat(m[1], 64); v > 1 || v < 0 {
			t.Errorf("the AUC axis runs to %s", m[1])
		}
	}
	if got := fmtMetric("users", 764); got != "764" {
		t.Errorf("a count shows as %q", got)
	}
	if got := fmtMetric("ndcg@10", 0.09171); got != "0.0917" {
		t.Errorf("a measure shows as %q", got)
	}
	err := fs.WalkDir(uiFiles, "ui", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".html") {
			return err
		}
		b, _ := fs.ReadFile(uiFiles, path)
		if regexp.MustCompile(`</a> /\s*</p>`).Match(b) {
			t.Errorf("%s: a breadcrumb ends with a slash", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
