// Package sorted lists a map's keys in order: for messages that name
// what is known, and for output that must not change between runs.
package sorted

import "sort"

// Keys returns m's keys, sorted.
func Keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
