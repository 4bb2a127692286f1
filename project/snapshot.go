package project

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tandem-data/tandem"
)

var reIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reSnapshotBlock finds {% snapshot name %} ... {% endsnapshot %} blocks.
var reSnapshotBlock = regexp.MustCompile(`(?s)\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}`)

// addSnapshots reads the snapshot blocks of one file under snapshot-paths.
func (p *Project) addSnapshots(rel, root string, b []byte, tree map[string]any) error {
	src := string(b)
	blocks := reSnapshotBlock.FindAllStringSubmatchIndex(src, -1)
	if len(blocks) == 0 && strings.TrimSpace(src) != "" {
		return tandem.FileErrorf(tandem.EINVALID, rel, 1, "no {%% snapshot name %%} ... {%% endsnapshot %%} block; a snapshot file holds one or more such blocks")
	}
	for _, m := range blocks {
		name := src[m[2]:m[3]]
		line := 1 + strings.Count(src[:m[0]], "\n")
		bodyLine := 1 + strings.Count(src[:m[4]], "\n")
		if err := p.claimName(name, rel); err != nil {
			return err
		}
		t, err := parseTemplate(rel, bodyLine, src[m[4]:m[5]])
		if err != nil {
			return err
		}
		n := &tandem.Node{
			ID: "snapshot." + p.Name + "." + name, Kind: tandem.KindSnapshot, Name: name, Path: rel, Line: line,
			Materialized: tandem.SnapshotMat, Enabled: true, RawSQL: src[m[4]:m[5]], Config: map[string]any{},
		}
		// dbt_project.yml configures snapshots by folder and by name.
		dir := filepath.Join(filepath.Dir(rel), name+".sql")
		applyConfig(n, folderConfig(tree, p.Name, root, dir))
		p.Nodes[n.ID] = n
		p.templates[n.ID] = t
		p.byName[name] = n.ID
	}
	return nil
}

// parseSnapshot renders a snapshot once for its refs and config(), and
// checks the config a snapshot needs.
func (p *Project) parseSnapshot(n *tandem.Node) error {
	if err := p.parseRender(n); err != nil {
		return err
	}
	n.Materialized = tandem.SnapshotMat
	if ts := str(n.Config["target_schema"]); ts != "" {
		p.schemas[n.ID] = ts // dbt takes a snapshot's target_schema as it is
	}
	if len(n.UniqueKey) == 0 {
		return p.configError(n, "unique_key", "snapshot %s needs a unique_key: config(unique_key='id')", n.Name)
	}
	for _, k := range n.UniqueKey {
		if !reIdent.MatchString(k) {
			return p.configError(n, "unique_key", "snapshot %s: unique_key %q is an expression; Tandem takes column names (a list for a composite key): compute the key as a column of the snapshot query", n.Name, k)
		}
	}
	switch str(n.Config["strategy"]) {
	case "timestamp":
		if str(n.Config["updated_at"]) == "" {
			return p.configError(n, "strategy", "snapshot %s: strategy 'timestamp' needs updated_at: the column that says when a row last changed", n.Name)
		}
	case "check":
		if n.Config["check_cols"] == nil {
			return p.configError(n, "strategy", "snapshot %s: strategy 'check' needs check_cols: 'all' or a list of columns", n.Name)
		}
	default:
		return p.configError(n, "strategy", "snapshot %s: strategy=%q is not one of timestamp, check", n.Name, str(n.Config["strategy"]))
	}
	switch hd := HardDeletes(n); hd {
	case "ignore", "invalidate":
	default:
		return p.configError(n, "hard_deletes", "snapshot %s: hard_deletes=%q is not supported; use ignore or invalidate", n.Name, hd)
	}
	return nil
}

// HardDeletes is what a snapshot does with a row its query no longer
// returns: "ignore" (dbt's default) or "invalidate" (close its current
// version), from hard_deletes or the older invalidate_hard_deletes.
func HardDeletes(n *tandem.Node) string {
	if hd := str(n.Config["hard_deletes"]); hd != "" {
		return hd
	}
	if v, ok := n.Config["invalidate_hard_deletes"].(bool); ok && v {
		return "invalidate"
	}
	return "ignore"
}
