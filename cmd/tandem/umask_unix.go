//go:build unix

package main

import "syscall"

// privateFiles makes every file tandem creates (the warehouse and its WAL,
// the metadata store, the event log, the online store, models, training
// sets) readable by its owner only. The adapters narrow their main files
// themselves too; this covers the files DuckDB and SQLite add later.
func privateFiles() { syscall.Umask(0o077) }
