// Package conv converts the values warehouses return.
package conv

import "fmt"

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
