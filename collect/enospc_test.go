package collect

import "syscall"

var errNoSpace = syscall.ENOSPC
