package tandem

import "context"

// Record is one entry of an EventLog.
type Record struct {
	Offset int64
	Data   []byte
}

// EventLog is an append-only, ordered, durable log: collected events go in,
// the loader and streaming features read them out from an offset. The
// embedded default is segment files on local disk (eventlog/); the
// interface is kept to what Kafka also offers, so a Kafka-backed log can
// follow.
type EventLog interface {
	// Append writes records durably (on disk, fsynced, when it returns nil)
	// and returns the offset of the first one; the rest follow in order.
	// When it cannot keep them (disk full, closed), it returns EUNAVAILABLE
	// and nothing of the call is visible to readers.
	Append(ctx context.Context, records [][]byte) (first int64, err error)
	// Read returns up to max records with offsets >= from, in order. Offsets
	// may have gaps where a corrupt record was skipped. It does not wait.
	Read(ctx context.Context, from int64, max int) ([]Record, error)
	// Wait blocks until a record at or after offset exists, or ctx ends.
	Wait(ctx context.Context, offset int64) error
	// End is the offset the next appended record will get.
	End() int64
	Close() error
}
