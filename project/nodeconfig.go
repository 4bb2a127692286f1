package project

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tandem-data/tandem"
)

// configKeys are the config names a dbt_project.yml may set without a "+".
var configKeys = map[string]bool{
	"materialized": true, "schema": true, "alias": true, "tags": true, "enabled": true, "meta": true,
	"unique_key": true, "incremental_strategy": true, "full_refresh": true, "docs": true, "persist_docs": true,
	"column_types": true, "quote_columns": true, "delimiter": true, "severity": true, "where": true,
	"pre-hook": true, "post-hook": true, "pre_hook": true, "post_hook": true, "database": true, "grants": true,
	"contract": true, "on_schema_change": true, "group": true, "access": true, "sql_header": true,
	"owner": true, "keep_versions": true, "time_column": true, "schedule": true, "store_failures": true,
	"warn_if": true, "error_if": true, "limit": true, "fail_calc": true, "freshness": true,
	// snapshots
	"target_schema": true, "target_database": true, "strategy": true, "updated_at": true, "check_cols": true,
	"invalidate_hard_deletes": true, "hard_deletes": true,
}

// folderConfig collects the config that dbt_project.yml gives a file: the
// project's level, then each folder down to the file's, deeper winning.
func folderConfig(tree map[string]any, project, root, rel string) map[string]any {
	out := map[string]any{}
	level, ok := tree[project].(map[string]any)
	collect(out, tree)
	if !ok {
		return out
	}
	collect(out, level)
	// dbt's fqn: the folders under the resource path, then the file's own
	// name, so a model or seed is configured by name as by folder.
	var parts []string
	if sub, _ := filepath.Rel(root, filepath.Dir(rel)); sub != "." {
		parts = strings.Split(sub, string(filepath.Separator))
	}
	base := filepath.Base(rel)
	parts = append(parts, strings.TrimSuffix(base, filepath.Ext(base)))
	for _, part := range parts {
		next, ok := level[part].(map[string]any)
		if !ok {
			break
		}
		collect(out, next)
		level = next
	}
	return out
}

func collect(out map[string]any, level map[string]any) {
	for k, v := range level {
		key := strings.TrimPrefix(k, "+")
		if key == k && !configKeys[k] {
			continue
		}
		if _, isMap := v.(map[string]any); isMap && key == k && key != "meta" && key != "docs" && key != "column_types" {
			continue // a folder that happens to share a config name
		}
		mergeConfigValue(out, key, v)
	}
}

// mergeConfigValue sets a config value as dbt does: tags and hooks add up,
// meta merges, everything else is replaced.
func mergeConfigValue(out map[string]any, key string, v any) {
	if k, ok := hookKey(key); ok { // hooks add up, the outer level's first
		out[k] = append(hookList(out[k]), hookList(v)...)
		return
	}
	switch key {
	case "tags":
		out["tags"] = toAnySlice(union(toStrings(out["tags"]), toStrings(v)))
	case "meta":
		m, _ := v.(map[string]any)
		out["meta"] = mergeMaps(asMap(out["meta"]), m)
	default:
		out[key] = v
	}
}

// applyConfig applies config values onto a node's typed fields.
func applyConfig(n *tandem.Node, cfg map[string]any) {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mergeConfigValue(n.Config, k, cfg[k])
	}
	// meta.owner given at this level beats an owner inherited from above.
	if o, ok := asMap(cfg["meta"])["owner"]; ok && cfg["owner"] == nil {
		n.Config["owner"] = o
	}
	c := n.Config
	if v, ok := c["materialized"].(string); ok && v != "" {
		n.Materialized = v
	}
	if v, ok := c["schema"].(string); ok {
		n.Schema = v
	}
	if v, ok := c["alias"].(string); ok {
		n.Alias = v
	}
	if v, ok := c["enabled"].(bool); ok {
		n.Enabled = v
	}
	if v, ok := c["full_refresh"].(bool); ok {
		n.FullRefresh = &v
	}
	if v, ok := c["incremental_strategy"].(string); ok {
		n.Strategy = v
	}
	if v, ok := c["unique_key"]; ok && v != nil {
		n.UniqueKey = toStrings(v)
	}
	n.Tags = toStrings(c["tags"])
	n.Meta = asMap(c["meta"])
	n.Owner = ownerOf(n.Meta, c)
	if ct := asMap(c["column_types"]); len(ct) > 0 {
		n.ColumnTypes = map[string]string{}
		for k, v := range ct {
			n.ColumnTypes[k] = fmt.Sprint(v)
		}
	}
}

func ownerOf(meta, cfg map[string]any) string {
	if o := str(cfg["owner"]); o != "" {
		return o
	}
	return str(meta["owner"])
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func toStrings(v any) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		return []string{t}
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
