// Package kvstore is the embedded online store: one bbolt file, one
// bucket per feature view, the entity key as the key. Reads are lock-free
// lookups in a memory-mapped B+tree; writes are batched in transactions.
package kvstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandem-data/tandem"
)

// Store implements tandem.OnlineStore.
type Store struct {
	db *bolt.DB
}

var marks = []byte("__tandem_marks")

// Open opens or creates the store file.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// A large initial map: growing it remaps the file and copies every
	// node in memory (most of a bulk load's time otherwise). It is address
	// space, not memory.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, InitialMmapSize: 16 << 30})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "the online store %s is open in another process (a running `tandem serve`?); stop it, or go through its API", path)
	}
	if err == nil {
		os.Chmod(path, 0o600) // a store created before 0600 was the mode
	}
	if err != nil {
		return nil, err
	}
	db.AllocSize = 64 << 20
	return &Store{db: db}, nil
}

func bucket(view string) []byte { return []byte("v:" + view) }

// encode: event time and created time (Unix ns, big endian), then values.
func encode(r *tandem.OnlineRow) []byte {
	b := make([]byte, 16+len(r.Values))
	binary.BigEndian.PutUint64(b, uint64(r.EventTS.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(r.Created.UnixNano()))
	copy(b[16:], r.Values)
	return b
}

func decode(key string, b []byte, copyValues bool) *tandem.OnlineRow {
	if len(b) < 16 {
		return nil
	}
	r := &tandem.OnlineRow{Key: key, EventTS: time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC(),
		Created: time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))).UTC(), Values: b[16:]}
	if copyValues {
		r.Values = bytes.Clone(r.Values)
	}
	return r
}

// Put implements tandem.OnlineStore.
func (s *Store) Put(ctx context.Context, view string, rows []tandem.OnlineRow) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket(view))
		if err != nil {
			return err
		}
		b.FillPercent = 0.9
		// A bulk load in key order past the last stored key (a first
		// materialization) has nothing to compare with: no lookups.
		fresh := sorted(rows)
		if fresh {
			if last, _ := b.Cursor().Last(); last != nil && string(last) >= rows[0].Key {
				fresh = false
			}
		}
		for i := range rows {
			r := &rows[i]
			k := []byte(r.Key)
			if fresh {
				if err := b.Put(k, encode(r)); err != nil {
					return err
				}
				continue
			}
			if old := b.Get(k); old != nil {
				if o := decode(r.Key, old, false); o != nil && !r.Newer(o) {
					continue
				}
			}
			if err := b.Put(k, encode(r)); err != nil {
				return err
			}
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func sorted(rows []tandem.OnlineRow) bool {
	for i := 1; i < len(rows); i++ {
		if rows[i].Key <= rows[i-1].Key {
			return false
		}
	}
	return len(rows) > 0
}

// Get implements tandem.OnlineStore.
func (s *Store) Get(ctx context.Context, view string, keys []string) ([]*tandem.OnlineRow, error) {
	out := make([]*tandem.OnlineRow, len(keys))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket(view))
		if b == nil {
			return nil
		}
		for i, k := range keys {
			if v := b.Get([]byte(k)); v != nil {
				out[i] = decode(k, v, true) // the mmap is only valid in the transaction
			}
		}
		return nil
	})
	return out, err
}

// SetMark implements tandem.OnlineStore.
func (s *Store) SetMark(ctx context.Context, view string, t time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(marks)
		if err != nil {
			return err
		}
		v, _ := t.UTC().MarshalBinary()
		return b.Put([]byte(view), v)
	})
}

// Mark implements tandem.OnlineStore.
func (s *Store) Mark(ctx context.Context, view string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(marks); b != nil {
			if v := b.Get([]byte(view)); v != nil {
				return t.UnmarshalBinary(v)
			}
		}
		return nil
	})
	return t, err
}

// DropView implements tandem.OnlineStore.
func (s *Store) DropView(ctx context.Context, view string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucket(view)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if b := tx.Bucket(marks); b != nil {
			return b.Delete([]byte(view))
		}
		return nil
	})
}

// Close implements tandem.OnlineStore.
func (s *Store) Close() error { return s.db.Close() }
