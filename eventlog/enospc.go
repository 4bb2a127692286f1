package eventlog

import "syscall"

var syscallENOSPC = syscall.ENOSPC
