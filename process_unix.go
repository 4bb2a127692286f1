//go:build unix

package tandem

import (
	"errors"
	"syscall"
)

// processAlive asks the kernel whether pid exists (signal 0 sends nothing).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
