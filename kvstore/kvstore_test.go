package kvstore

import (
	"path/filepath"
	"testing"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/storetest"
)

func TestConformance(t *testing.T) {
	paths := map[tandem.OnlineStore]string{}
	storetest.OnlineStore(t, func(t *testing.T) tandem.OnlineStore {
		path := filepath.Join(t.TempDir(), "online.db")
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		paths[s] = path
		return s
	}, func(t *testing.T, s tandem.OnlineStore) tandem.OnlineStore {
		s.Close()
		s2, err := Open(paths[s])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	})
}

func TestOneProcessAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "online.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("a second open: %v", err)
	}
}
