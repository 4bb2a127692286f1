package project

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tandem-data/tandem"
	"gopkg.in/yaml.v3"
)

// A node's config comes from three places (dbt_project.yml's folder levels,
// the properties in a .yml file, the config() call in the model), and a bad
// value must be reported where the user typed it, not at the model's file.
// origins remembers, per node and config key, the file and line of the
// value that won.

type origin struct {
	file string
	line int
}

// setOrigin records where key of node id was set, replacing an earlier
// (shallower) origin, as the value it set replaced the earlier one.
func (p *Project) setOrigin(id, key, file string, line int) {
	p.originsMu.Lock()
	defer p.originsMu.Unlock()
	if p.origins == nil {
		p.origins = map[string]map[string]origin{}
	}
	m := p.origins[id]
	if m == nil {
		m = map[string]origin{}
		p.origins[id] = m
	}
	m[key] = origin{file, line}
}

// configError is an error about config key of n, located where its value
// was set.
func (p *Project) configError(n *tandem.Node, key, format string, args ...any) error {
	file, line := p.ConfigAt(n, key)
	return tandem.FileErrorf(tandem.EINVALID, file, line, format, args...)
}

// ConfigAt is where config key of n was set: the node's own file when
// nothing else is known.
func (p *Project) ConfigAt(n *tandem.Node, key string) (file string, line int) {
	p.originsMu.Lock()
	defer p.originsMu.Unlock()
	if o, ok := p.origins[n.ID][key]; ok {
		return o.file, o.line
	}
	return n.Path, n.Line
}

// folderOrigins records the line in dbt_project.yml of every config key that
// folderConfig gives the file rel, walking the same levels in the same order
// (deeper levels win).
func (p *Project) folderOrigins(id string, dpRoot *yaml.Node, section, root, rel string) {
	tree := mapValue(docRoot(dpRoot), section)
	record := func(level *yaml.Node) {
		if level == nil || level.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(level.Content); i += 2 {
			k, v := level.Content[i].Value, level.Content[i+1]
			key := strings.TrimPrefix(k, "+")
			if key == k && (!configKeys[k] || (v.Kind == yaml.MappingNode && key != "meta" && key != "docs" && key != "column_types")) {
				continue
			}
			p.setOrigin(id, key, "dbt_project.yml", level.Content[i].Line)
		}
	}
	record(tree)
	level := mapValue(tree, p.Name)
	if level == nil {
		return
	}
	record(level)
	sub, _ := filepath.Rel(root, filepath.Dir(rel))
	if sub == "." {
		return
	}
	for _, part := range strings.Split(sub, string(filepath.Separator)) {
		if level = mapValue(level, part); level == nil {
			return
		}
		record(level)
	}
}

// propertyOrigins records the lines of the config keys of one models: or
// seeds: entry of a properties file.
func (p *Project) propertyOrigins(id, file string, entry *yaml.Node) {
	for _, k := range []string{"tags", "meta"} {
		if v := keyNode(entry, k); v != nil {
			p.setOrigin(id, k, file, v.Line)
		}
	}
	cfg := mapValue(entry, "config")
	if cfg == nil || cfg.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(cfg.Content); i += 2 {
		p.setOrigin(id, cfg.Content[i].Value, file, cfg.Content[i].Line)
	}
}

var reConfigCall = regexp.MustCompile(`\bconfig\s*\(`)

// callOrigins records the line of each key set by the model's config() call.
func (p *Project) callOrigins(n *tandem.Node, keys map[string]any) {
	lines := strings.Split(n.RawSQL, "\n")
	call := 0 // line of the first config( call
	for i, l := range lines {
		if reConfigCall.MatchString(l) {
			call = i + 1
			break
		}
	}
	for k := range keys {
		line := call
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\s*=`)
		for i := max(call-1, 0); i < len(lines); i++ {
			if re.MatchString(lines[i]) {
				line = i + 1
				break
			}
		}
		p.setOrigin(n.ID, k, n.Path, max(line, 1))
	}
}

// keyNode returns the key node (for its line) of key in mapping n.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func docRoot(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}
