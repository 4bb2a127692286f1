package project

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tandem-data/tandem"
)

// decodeStrict decodes YAML src into out, first checking every mapping key
// against out's yaml tags: an unknown key is an error naming file, line and
// the nearest known key. Fields typed any or map[string]any accept anything.
func decodeStrict(file string, src []byte, out any) (*yaml.Node, error) {
	return decodeYAML(file, src, out, nil)
}

// decodeLenient decodes a dbt file as dbt does: a key Tandem does not know
// (an adapter's, a custom one) and a duplicate key (the later one wins) are
// warnings, never errors, since dbt accepts them.
func (p *Project) decodeLenient(file string, src []byte, out any) (*yaml.Node, error) {
	return decodeYAML(file, src, out, p.warnAt)
}

// warnAt records a warning about a file's line.
func (p *Project) warnAt(file string, line int, msg string) {
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	p.Warnings = append(p.Warnings, fmt.Sprintf("%s:%d: %s", file, line, msg))
}

func decodeYAML(file string, src []byte, out any, warn func(file string, line int, msg string)) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, yamlError(file, err)
	}
	if len(root.Content) == 0 {
		return &root, nil // empty file
	}
	doc := root.Content[0]
	if warn != nil {
		dedupeKeys(file, doc, "", warn)
	}
	if err := checkKeys(file, doc, reflect.TypeOf(out).Elem(), "", warn); err != nil {
		return nil, err
	}
	if err := doc.Decode(out); err != nil {
		return nil, yamlError(file, err)
	}
	return doc, nil
}

// dedupeKeys removes the earlier of two equal keys in every mapping, as
// dbt's YAML loader keeps the later one, and warns.
func dedupeKeys(file string, n *yaml.Node, path string, warn func(string, int, string)) {
	switch n.Kind {
	case yaml.MappingNode:
		last := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			last[n.Content[i].Value] = i
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if last[k.Value] != i && k.Kind == yaml.ScalarNode && k.Value != "<<" {
				warn(file, k.Line, fmt.Sprintf("key %q is given twice (again at line %d); the later one wins, as in dbt", joinPath(path, k.Value), n.Content[last[k.Value]].Line))
				continue
			}
			dedupeKeys(file, n.Content[i+1], joinPath(path, k.Value), warn)
			kept = append(kept, k, n.Content[i+1])
		}
		n.Content = kept
	case yaml.SequenceNode:
		for i, c := range n.Content {
			dedupeKeys(file, c, fmt.Sprintf("%s[%d]", path, i), warn)
		}
	}
}

var reLine = regexp.MustCompile(`(?i)line[: ]+(\d+)`)

func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if m := reLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = strings.TrimSpace(reLine.ReplaceAllString(msg, ""))
		msg = strings.TrimPrefix(msg, ": ")
	}
	return tandem.FileErrorf(tandem.EINVALID, file, line, "invalid YAML: %s", msg)
}

// checkKeys compares every mapping key of n with t's yaml tags. An unknown
// key is an error naming file, line and the nearest known key; with warn
// set, a warning instead.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string, warn func(string, int, string)) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(yaml.Node{}) || n.Kind != yaml.MappingNode {
			return nil // type errors are reported by Decode
		}
		fields := map[string]reflect.StructField{}
		var names []string
		var inline *reflect.StructField
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if strings.Contains(opts, "inline") {
				inline = &f
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f
			names = append(names, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				if inline != nil {
					continue
				}
				msg := fmt.Sprintf("unknown key %q", joinPath(path, k.Value))
				if near := nearest(k.Value, names); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				} else {
					msg += fmt.Sprintf("; known keys here: %s", strings.Join(names, ", "))
				}
				if warn != nil {
					warn(file, k.Line, msg+"; Tandem ignores it")
					continue
				}
				return tandem.FileErrorf(tandem.EINVALID, file, k.Line, "%s", msg)
			}
			if err := checkKeys(file, v, f.Type, joinPath(path, k.Value), warn); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if err := checkKeys(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), warn); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKeys(file, n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), warn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// mapValue returns the value node of key in mapping n.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// seqLines returns the line of each item of the sequence under key.
func seqLines(n *yaml.Node, key string) []int {
	s := mapValue(n, key)
	if s == nil {
		return nil
	}
	lines := make([]int, len(s.Content))
	for i, c := range s.Content {
		lines[i] = c.Line
	}
	return lines
}

func lineAt(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

// DecodeYAML decodes src strictly into out, as the project's own files
// are: an unknown key is an error with its line and the nearest known
// key. It returns the document node, for line numbers.
func DecodeYAML(file string, src []byte, out any) (*yaml.Node, error) {
	return decodeStrict(file, src, out)
}
