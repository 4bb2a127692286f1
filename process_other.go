//go:build !unix

package tandem

// processAlive cannot tell elsewhere: a run is never taken for orphaned.
func processAlive(int) bool { return true }
