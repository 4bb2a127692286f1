package project

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tandem-data/tandem"
)

// Seed is a parsed seed CSV with a SQL type for each column.
type Seed struct {
	Columns []tandem.Column
	Rows    [][]*string // nil is NULL (an empty field)
}

var (
	reInt       = regexp.MustCompile(`^[-+]?\d+$`)
	reDecimal   = regexp.MustCompile(`^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$`)
	reDate      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	reTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$`)
)

// ReadSeed reads and validates a seed file. Ragged rows, invalid UTF-8 and
// duplicate or empty headers are errors naming the line. Types are inferred
// per column (BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN, else VARCHAR) unless
// columnTypes names one.
func ReadSeed(dir string, n *tandem.Node) (*Seed, error) {
	b, err := os.ReadFile(filepath.Join(dir, n.Path))
	if err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "seed %s: %v", n.Name, err)
	}
	delim := ','
	if d := str(n.Config["delimiter"]); d != "" { // dbt's seed delimiter config
		if r := []rune(d); len(r) == 1 && r[0] != '"' && r[0] != '\n' && r[0] != '\r' {
			delim = r[0]
		} else {
			return nil, tandem.FileErrorf(tandem.EINVALID, n.Path, 1, "seed %s: delimiter %q must be one character (not a quote or a line break)", n.Name, d)
		}
	}
	return parseSeed(n.Path, b, n.ColumnTypes, delim)
}

// ParseSeed parses seed CSV bytes; file names errors.
func ParseSeed(file string, b []byte, columnTypes map[string]string) (*Seed, error) {
	return parseSeed(file, b, columnTypes, ',')
}

func parseSeed(file string, b []byte, columnTypes map[string]string, delim rune) (*Seed, error) {
	b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	if !utf8.Valid(b) {
		line := 1 + bytes.Count(b[:firstInvalid(b)], []byte("\n"))
		return nil, tandem.FileErrorf(tandem.EINVALID, file, line, "not valid UTF-8 text; save the file as UTF-8 (for example: iconv -f latin1 -t utf-8)")
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = delim
	r.FieldsPerRecord = 0
	header, err := r.Read()
	if err == io.EOF {
		return nil, tandem.FileErrorf(tandem.EINVALID, file, 1, "empty seed: the first line must name the columns")
	} else if err != nil {
		return nil, csvError(file, err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if h == "" {
			return nil, tandem.FileErrorf(tandem.EINVALID, file, 1, "column %d has an empty name", i+1)
		}
		if seen[strings.ToLower(h)] {
			return nil, tandem.FileErrorf(tandem.EINVALID, file, 1, "column %q appears twice in the header", h)
		}
		seen[strings.ToLower(h)] = true
	}
	for c := range columnTypes {
		if !seen[strings.ToLower(c)] {
			return nil, tandem.FileErrorf(tandem.EINVALID, file, 1, "column_types names %q, which is not a column of this seed (columns: %s)", c, strings.Join(header, ", "))
		}
	}
	s := &Seed{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, csvError(file, err)
		}
		row := make([]*string, len(rec))
		for i := range rec {
			if rec[i] != "" {
				v := rec[i]
				row[i] = &v
			}
		}
		s.Rows = append(s.Rows, row)
	}
	for i, h := range header {
		typ := ""
		for c, t := range columnTypes {
			if strings.EqualFold(c, h) {
				typ = t
			}
		}
		if typ == "" {
			typ = inferType(s.Rows, i)
		}
		s.Columns = append(s.Columns, tandem.Column{Name: h, Type: typ})
	}
	return s, nil
}

func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields: every row must have as many fields as the header"
		}
		return tandem.FileErrorf(tandem.EINVALID, file, pe.Line, "%s", msg)
	}
	return tandem.FileErrorf(tandem.EINVALID, file, 0, "%v", err)
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func inferType(rows [][]*string, col int) string {
	cands := []struct {
		typ string
		ok  func(string) bool
	}{
		{"BOOLEAN", func(v string) bool { l := strings.ToLower(v); return l == "true" || l == "false" }},
		{"BIGINT", func(v string) bool { return reInt.MatchString(v) && len(strings.TrimLeft(v, "+-")) < 19 }},
		{"DOUBLE", reDecimal.MatchString},
		{"DATE", reDate.MatchString},
		{"TIMESTAMP", reTimestamp.MatchString},
	}
	any := false
	for _, c := range cands {
		ok := true
		for _, r := range rows {
			if v := r[col]; v != nil {
				any = true
				if !c.ok(*v) {
					ok = false
					break
				}
			}
		}
		if ok && any {
			return c.typ
		}
	}
	return "VARCHAR"
}
