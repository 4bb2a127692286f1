package tandem

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Error codes: the one vocabulary every layer speaks. The CLI maps them to
// exit codes and the HTTP API to status codes, each in exactly one place.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is an application error that is safe to show to a user. Message says
// what went wrong and, where it helps, what to do next. File and Line point
// at the user's input that caused it.
type Error struct {
	Code    string
	Message string
	File    string
	Line    int
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FileErrorf returns an *Error that points at file:line.
func FileErrorf(code, file string, line int, format string, args ...any) *Error {
	return &Error{Code: code, File: file, Line: line, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	} else if DiskFull(err) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// DiskFull reports whether err is a full disk, however the store words it
// (the OS's ENOSPC, SQLite's "database or disk is full", DuckDB's I/O
// error): not the caller's fault, and worth a retry once space is freed.
func DiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database or disk is full") || strings.Contains(msg, "No space left on device") ||
		strings.Contains(msg, "no space left on device")
}

// ExitCode maps an error to the process exit code of the CLI.
func ExitCode(err error) int {
	switch ErrorCode(err) {
	case "":
		return 0
	case EINVALID:
		return 2
	case ENOTFOUND:
		return 3
	case ECONFLICT:
		return 4
	case EUNAUTHORIZED, EFORBIDDEN:
		return 5
	case EUNAVAILABLE:
		return 6
	}
	return 1
}

// ErrorMessage returns the message of the first *Error in err's chain,
// without its file and line, or err's text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
