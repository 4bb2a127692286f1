package tandem

import (
	"context"
	"time"
)

// OnlineRow is the latest feature values of one entity in one view.
type OnlineRow struct {
	Key     string    // the entity's join key values, encoded by the feature store
	EventTS time.Time // when the values became true
	Created time.Time // when they were written upstream (ties on EventTS)
	Values  []byte    // the feature values, encoded by the feature store
}

// Newer reports whether r should replace old: a later event time, or the
// same one created later (or at the same time: the last write wins).
func (r *OnlineRow) Newer(old *OnlineRow) bool {
	if !r.EventTS.Equal(old.EventTS) {
		return r.EventTS.After(old.EventTS)
	}
	return !r.Created.Before(old.Created)
}

// OnlineStore keeps the latest feature values per entity for serving.
// The embedded default is a key-value file (kvstore/); the conformance
// suite (storetest/) lets a Redis-backed one follow.
type OnlineStore interface {
	// Put writes rows of a view. A row replaces the stored one of its key
	// only when it is Newer, so materializing an older range never
	// overwrites newer values. All rows of a call land, or none.
	Put(ctx context.Context, view string, rows []OnlineRow) error
	// Get returns the stored rows for keys, in their order: nil where a key
	// has none.
	Get(ctx context.Context, view string, keys []string) ([]*OnlineRow, error)
	// SetMark records how far a view is materialized; Mark reads it (zero
	// when never).
	SetMark(ctx context.Context, view string, t time.Time) error
	Mark(ctx context.Context, view string) (time.Time, error)
	// DropView removes a view's rows and mark.
	DropView(ctx context.Context, view string) error
	Close() error
}
