// Package conv converts the values warehouses return, and writes numbers
// for people.
package conv

import (
	"fmt"
	"strconv"
	"strings"
)

// Thousands writes n with a comma every three digits: 1,234,567.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Int64 reads an integer from a query's cell: any integer or float type,
// or its text. Anything else is 0.
func Int64(v any) int64 {
	switch t := v.(type) {
	case int64:
		return t
	case int32:
		return int64(t)
	case int:
		return int64(t)
	case uint64:
		return int64(t)
	case float64:
		return int64(t)
	case nil:
		return 0
	}
	var n int64
	fmt.Sscan(fmt.Sprint(v), &n)
	return n
}
