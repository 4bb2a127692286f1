package eventlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	opts.Logger = quiet
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := l.Append(context.Background(), [][]byte{[]byte(fmt.Sprintf("event-%05d", i))}); err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, l *Log) []tandem.Record {
	t.Helper()
	var out []tandem.Record
	for from := int64(0); ; {
		recs, err := l.Read(context.Background(), from, 37)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
}

func TestAppendReadAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 1000})
	first, err := l.Append(context.Background(), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil || first != 0 {
		t.Fatalf("first append: %d %v", first, err)
	}
	appendN(t, l, 3, 297)
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 5 {
		t.Fatalf("%d segments; rotation by size did not happen", len(segs))
	}
	l = open(t, dir, Options{SegmentBytes: 1000})
	recs := readAll(t, l)
	if len(recs) != 300 || l.End() != 300 {
		t.Fatalf("%d records, end %d after restart", len(recs), l.End())
	}
	for i, r := range recs {
		want := fmt.Sprintf("event-%05d", i)
		if i < 3 {
			want = string("abc"[i])
		}
		if r.Offset != int64(i) || string(r.Data) != want {
			t.Fatalf("record %d = %d %q", i, r.Offset, r.Data)
		}
	}
	if got, _ := l.Read(context.Background(), 250, 2); len(got) != 2 || got[0].Offset != 250 {
		t.Errorf("read from the middle: %+v", got)
	}
	if len(l.Damage()) != 0 {
		t.Errorf("damage on a clean log: %+v", l.Damage())
	}
}

func TestConcurrentAppendsShareFsyncs(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	seen := make([][]int64, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				off, err := l.Append(context.Background(), [][]byte{[]byte(fmt.Sprintf("g%d-%d", g, i)), []byte("x")})
				if err != nil {
					t.Error(err)
					return
				}
				seen[g] = append(seen[g], off)
			}
		}(g)
	}
	wg.Wait()
	all := map[int64]bool{}
	for _, offs := range seen {
		for _, o := range offs {
			if all[o] || all[o+1] {
				t.Fatalf("offset %d given twice", o)
			}
			all[o], all[o+1] = true, true
		}
	}
	if l.End() != 3200 || len(readAll(t, l)) != 3200 {
		t.Errorf("end %d", l.End())
	}
	if l.Syncs() >= 1600 {
		t.Errorf("%d fsyncs for 1600 appends: no group commit", l.Syncs())
	}
	t.Logf("1600 appends, %d fsyncs", l.Syncs())
}

func lastSegment(t *testing.T, dir string) string {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return segs[len(segs)-1]
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendN(t, l, 0, 100)
	l.Close()
	seg := lastSegment(t, dir)
	st, _ := os.Stat(seg)
	os.Truncate(seg, st.Size()-7) // the crash cut the last write short
	l = open(t, dir, Options{})
	recs := readAll(t, l)
	if len(recs) != 99 || l.End() != 99 {
		t.Fatalf("%d records, end %d; want the 99 whole ones", len(recs), l.End())
	}
	d := l.Damage()
	if len(d) != 1 || !d[0].Tail {
		t.Errorf("damage %+v", d)
	}
	appendN(t, l, 99, 1)
	if recs := readAll(t, l); len(recs) != 100 || string(recs[99].Data) != "event-00099" {
		t.Errorf("append after recovery: %d records", len(recs))
	}
}

func TestCorruptRecordsAreSkippedKeepingOffsets(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 2000})
	appendN(t, l, 0, 200)
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	// Flip a payload byte in one segment, and wreck a length field in another.
	f, _ := os.OpenFile(segs[1], os.O_RDWR, 0)
	f.WriteAt([]byte{'#'}, 3*(headerSize+11)+headerSize+2)
	f.Close()
	f, _ = os.OpenFile(segs[2], os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xff, 0xff}, 5*(headerSize+11)+12)
	f.Close()
	l = open(t, dir, Options{SegmentBytes: 2000})
	recs := readAll(t, l)
	if len(recs) != 198 {
		t.Fatalf("%d records, want the 198 intact ones", len(recs))
	}
	for _, r := range recs {
		if string(r.Data) != fmt.Sprintf("event-%05d", r.Offset) {
			t.Fatalf("offset %d holds %q: offsets shifted", r.Offset, r.Data)
		}
	}
	if d := l.Damage(); len(d) != 2 || d[0].Tail || d[1].Tail {
		t.Errorf("damage %+v", d)
	}
	if l.End() != 200 {
		t.Errorf("end %d, want 200", l.End())
	}
}

// fullDisk is a segment file on a disk that fills up after limit bytes.
type fullDisk struct {
	*os.File
	mu    *sync.Mutex
	limit *int64
}

func (f fullDisk) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, _ := f.File.Stat()
	if room := *f.limit - st.Size(); int64(len(b)) > room {
		n, _ := f.File.Write(b[:max(room, 0)]) // a partial write, as a real full disk does
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(b)
}

func TestFullDiskRefusesAndKeepsNoPartialRecord(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	limit := int64(40 * (headerSize + 11))
	opts := Options{OpenFile: func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return fullDisk{File: f, mu: &mu, limit: &limit}, nil
	}}
	l := open(t, dir, opts)
	appendN(t, l, 0, 40)
	_, err := l.Append(context.Background(), [][]byte{[]byte("event-00040"), []byte("event-00041")})
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || err == nil {
		t.Fatalf("append on a full disk: %v", err)
	}
	if l.End() != 40 {
		t.Errorf("end %d after a failed append", l.End())
	}
	// Space comes back: appends go on at the next offset, with no gap and
	// nothing of the failed write.
	mu.Lock()
	limit = 1 << 30
	mu.Unlock()
	appendN(t, l, 40, 5)
	l.Close()
	l = open(t, dir, Options{})
	recs := readAll(t, l)
	if len(recs) != 45 || len(l.Damage()) != 0 {
		t.Fatalf("%d records, damage %+v", len(recs), l.Damage())
	}
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Data) != fmt.Sprintf("event-%05d", i) {
			t.Fatalf("record %d: %d %q", i, r.Offset, r.Data)
		}
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	done := make(chan error)
	go func() { done <- l.Wait(context.Background(), 0) }()
	appendN(t, l, 0, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 5); err != context.Canceled {
		t.Errorf("wait with a cancelled context: %v", err)
	}
}

func TestOneWriterPerLog(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if _, err := Open(dir, Options{Logger: quiet}); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Errorf("a second writer: %v", err)
	}
	ro, err := Open(dir, Options{Logger: quiet, ReadOnly: true})
	if err != nil {
		t.Fatalf("a reader beside the writer: %v", err)
	}
	appendN(t, l, 0, 3)
	if _, err := ro.Append(context.Background(), [][]byte{[]byte("x")}); err == nil {
		t.Error("a read-only log accepted an append")
	}
	ro.Close()
	if ro, _ = Open(dir, Options{Logger: quiet, ReadOnly: true}); len(readAll(t, ro)) != 3 {
		t.Error("the reader does not see the writer's records")
	}
	ro.Close()
	l.Close()
	again, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	again.Close()
}

func TestRetentionRemovesOnlyConsumedSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1000, MaxBytes: 3000}
	l := open(t, dir, opts)
	appendN(t, l, 0, 300) // about 10 segments of 1,000 bytes
	segs := func() int { s, _ := filepath.Glob(filepath.Join(dir, "*.seg")); return len(s) }
	before := segs()
	now := time.Now()

	// Nothing consumed: nothing goes, however big the log is.
	if n, err := l.Trim(0, now); n != 0 || err != nil || segs() != before {
		t.Fatalf("trim with nothing consumed removed %d (%v)", n, err)
	}
	// Consumed up to 150: by size, old segments go, but none holding 150 or later.
	n, err := l.Trim(150, now)
	if err != nil || n == 0 {
		t.Fatalf("trim by size removed %d (%v)", n, err)
	}
	recs := readAll(t, l)
	if first := recs[0].Offset; first > 150 || first != l.First() || recs[len(recs)-1].Offset != 299 {
		t.Fatalf("after trimming, records %d..%d (First %d); 150..299 must remain", first, recs[len(recs)-1].Offset, l.First())
	}
	for i, r := range recs {
		if r.Offset != recs[0].Offset+int64(i) || string(r.Data) != fmt.Sprintf("event-%05d", r.Offset) {
			t.Fatalf("record %d after trim: %d %q", i, r.Offset, r.Data)
		}
	}

	// By age: segments last written 2 days ago go when everything is consumed,
	// except the one being written.
	l.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, name := range names {
		os.Chtimes(name, now.Add(-48*time.Hour), now.Add(-48*time.Hour))
	}
	l = open(t, dir, Options{SegmentBytes: 1000, MaxAge: 24 * time.Hour})
	if n, err := l.Trim(300, now); err != nil || n != len(names)-1 || segs() != 1 {
		t.Fatalf("trim by age removed %d of %d (%v); %d left", n, len(names), err, segs())
	}
	if l.End() != 300 {
		t.Fatalf("end %d after trimming; offsets must go on from 300", l.End())
	}
	appendN(t, l, 300, 1)
	l.Close()
	l = open(t, dir, Options{SegmentBytes: 1000})
	if recs := readAll(t, l); len(recs) == 0 || recs[len(recs)-1].Offset != 300 || l.End() != 301 {
		t.Fatalf("after reopening a trimmed log: %d records, end %d", len(recs), l.End())
	}
}
