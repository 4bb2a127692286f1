// Package eventlog is the embedded EventLog: segment files on local disk.
//
// Each record is framed as magic, offset, length, CRC-32C, payload. The
// offset is in the frame, so a corrupt record that recovery skips leaves a
// gap instead of shifting every later offset (a consumer's committed
// offset must keep meaning the same record). The magic lets recovery find
// the next good frame after damage. Appends are acknowledged only after
// fsync; concurrent appends share one fsync (group commit).
//
// It must never acknowledge a record it has not synced, nor leave a
// partial frame behind a failed write.
package eventlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-data/tandem"
)

var _ tandem.EventLog = (*Log)(nil)

const (
	magic      = 0x54444D4C // "TDML"
	headerSize = 20         // magic 4, offset 8, length 4, crc 4
	indexEvery = 256        // one index entry per this many records
)

// MaxRecord is the largest record accepted.
const MaxRecord = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// File is what the log needs of a segment file; tests inject one that
// fails like a full disk.
type File interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Options tune a log. Zero values take the defaults.
type Options struct {
	SegmentBytes  int64         // rotate after this size (64 MiB)
	Linger        time.Duration // wait this long for more appends to share an fsync (0: only what is queued)
	MaxBatchBytes int           // bytes written per fsync at most (4 MiB)
	// OpenFile opens segment files (os.OpenFile by default).
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
	Logger   *slog.Logger
	// ReadOnly opens the log beside its writer (tandem events tail): no
	// lock, no repair of a torn tail (it is read as the end), no appends.
	ReadOnly bool
	// Retention: Trim removes whole segments, oldest first, whose newest
	// record is older than MaxAge or while the log holds more than
	// MaxBytes; never the segment being written, never one with records
	// not yet consumed. Zero means no limit.
	MaxAge   time.Duration
	MaxBytes int64
}

// Damage is a region recovery could not read.
type Damage struct {
	Segment string `json:"segment"`
	Pos     int64  `json:"pos"`
	Bytes   int64  `json:"bytes"`
	Tail    bool   `json:"tail"` // a torn tail, truncated away
}

type segment struct {
	base  int64
	path  string
	file  File
	size  int64 // bytes of whole, synced frames
	last  int64 // last offset in it, base-1 when empty
	index []indexEntry
	count int
}

type indexEntry struct{ offset, pos int64 }

// Log is a segmented append-only log in a directory.
type Log struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segments []*segment
	end      int64
	changed  chan struct{} // closed and replaced on every append
	closed   bool
	damage   []Damage
	syncs    int64

	reqs    chan *appendReq
	stopped chan struct{}
	lock    *os.File
	removed []*segment // trimmed; closed at the next Trim, when no read can still use them
}

type appendReq struct {
	records [][]byte
	first   int64
	err     error
	done    chan struct{}
}

// Open opens or creates the log in dir, recovering from a crash: a torn
// tail is truncated to the last whole record, and damage in the middle is
// skipped and reported (Damage), never read as data.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 4 << 20
	}
	if opts.OpenFile == nil {
		opts.OpenFile = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// The log holds what users' visitors sent: other local users may not
	// read it (files 0600, folder 0700; earlier files are narrowed too).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		os.Chmod(dir, 0o700)
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if !e.IsDir() {
					os.Chmod(filepath.Join(dir, e.Name()), 0o600)
				}
			}
		}
	}
	// One writer per log: a second process appending would interleave frames.
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		lock.Close()
		lock = nil
	} else if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "the event log %s is open in another process (a running `tandem serve`?); stop it, or go through its API", dir)
	}
	l := &Log{dir: dir, opts: opts, lock: lock, changed: make(chan struct{}), reqs: make(chan *appendReq, 1024), stopped: make(chan struct{})}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i, name := range names {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("event log: %s is not a segment name; move it out of %s", name, dir)
		}
		s, err := l.recover(name, base, i == len(names)-1)
		if err != nil {
			return nil, err
		}
		l.segments = append(l.segments, s)
		if s.last >= l.end {
			l.end = s.last + 1
		} else if s.base > l.end {
			l.end = s.base
		}
	}
	if opts.ReadOnly {
		close(l.stopped)
		l.closed = true // appends are refused
		return l, nil
	}
	if len(l.segments) == 0 {
		if err := l.newSegment(0); err != nil {
			return nil, err
		}
	}
	go l.writer()
	return l, nil
}

func segmentName(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.seg", base))
}

func (l *Log) newSegment(base int64) error {
	path := segmentName(l.dir, base)
	f, err := l.opts.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return unavailable(err)
	}
	// The new file's name must survive a crash too.
	if d, err := os.Open(l.dir); err == nil {
		d.Sync()
		d.Close()
	}
	l.segments = append(l.segments, &segment{base: base, path: path, file: f, last: base - 1})
	return nil
}

// frameAt reads and checks the frame at pos; ok is false for anything
// that is not a whole, valid frame.
func frameAt(r io.ReaderAt, pos, size int64) (offset int64, payload []byte, next int64, ok bool) {
	if size-pos < headerSize {
		return 0, nil, 0, false
	}
	var h [headerSize]byte
	if _, err := r.ReadAt(h[:], pos); err != nil {
		return 0, nil, 0, false
	}
	if binary.BigEndian.Uint32(h[0:]) != magic {
		return 0, nil, 0, false
	}
	offset = int64(binary.BigEndian.Uint64(h[4:]))
	n := int64(binary.BigEndian.Uint32(h[12:]))
	if n > MaxRecord || pos+headerSize+n > size {
		return 0, nil, 0, false
	}
	payload = make([]byte, n)
	if _, err := r.ReadAt(payload, pos+headerSize); err != nil {
		return 0, nil, 0, false
	}
	c := crc32.Update(crc32.Checksum(h[4:12], castagnoli), castagnoli, payload)
	if c != binary.BigEndian.Uint32(h[16:]) {
		return 0, nil, 0, false
	}
	return offset, payload, pos + headerSize + n, true
}

func (l *Log) recover(path string, base int64, last bool) (*segment, error) {
	flag := os.O_RDWR | os.O_APPEND
	if l.opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := l.opts.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	size := st.Size()
	s := &segment{base: base, path: path, file: f, last: base - 1}
	pos := int64(0)
	for pos < size {
		offset, _, next, ok := frameAt(f, pos, size)
		if ok && offset > s.last {
			s.add(offset, pos)
			pos = next
			continue
		}
		// Damage: find the next whole frame that continues the sequence.
		resync := int64(-1)
		for p := pos + 1; p+headerSize <= size; p++ {
			if off, _, _, ok := frameAt(f, p, size); ok && off > s.last {
				resync = p
				break
			}
		}
		if resync < 0 {
			if last && l.opts.ReadOnly { // the writer may be mid-write: the end is here
				size = pos
				break
			}
			if last { // a torn tail: the crash cut the last write short
				if err := f.Truncate(pos); err != nil {
					return nil, err
				}
				if err := f.Sync(); err != nil {
					return nil, err
				}
				l.damage = append(l.damage, Damage{Segment: filepath.Base(path), Pos: pos, Bytes: size - pos, Tail: true})
				l.opts.Logger.Warn("event log: torn tail truncated", "segment", filepath.Base(path), "at", pos, "bytes", size-pos)
				size = pos
				break
			}
			resync = size
		}
		l.damage = append(l.damage, Damage{Segment: filepath.Base(path), Pos: pos, Bytes: resync - pos})
		l.opts.Logger.Error("event log: damaged bytes skipped; records in them are lost", "segment", filepath.Base(path), "at", pos, "bytes", resync-pos)
		pos = resync
	}
	s.size = size
	return s, nil
}

func (s *segment) add(offset, pos int64) {
	if s.count%indexEvery == 0 {
		s.index = append(s.index, indexEntry{offset, pos})
	}
	s.count++
	s.last = offset
}

// Damage returns what recovery found at Open.
func (l *Log) Damage() []Damage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Damage(nil), l.damage...)
}

// Syncs is how many fsyncs appends took (group commit makes it fewer than
// the appends).
func (l *Log) Syncs() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

func unavailable(err error) error {
	msg := err.Error()
	if errors.Is(err, syscallENOSPC) || strings.Contains(msg, "no space left") {
		return tandem.Errorf(tandem.EUNAVAILABLE, "event log: disk full (%v); nothing of this write was kept", err)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "event log: %v", err)
}

// Append implements tandem.EventLog.
func (l *Log) Append(ctx context.Context, records [][]byte) (int64, error) {
	for i, r := range records {
		if len(r) > MaxRecord {
			return 0, tandem.Errorf(tandem.EINVALID, "record %d is %d bytes; the limit is %d", i, len(r), MaxRecord)
		}
	}
	req := &appendReq{records: records, done: make(chan struct{})}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return 0, tandem.Errorf(tandem.EUNAVAILABLE, "event log is closed")
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	<-req.done // once queued, the outcome is waited for: it may be written
	return req.first, req.err
}

// writer is the only goroutine that writes: it takes every queued append,
// writes them with one write and one fsync, then acknowledges them all.
func (l *Log) writer() {
	defer close(l.stopped)
	var buf []byte
	for req := range l.reqs {
		batch := []*appendReq{req}
		bytes := recordsSize(req.records)
		var linger <-chan time.Time
		if l.opts.Linger > 0 {
			linger = time.After(l.opts.Linger)
		}
	gather:
		for bytes < l.opts.MaxBatchBytes {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				bytes += recordsSize(r.records)
			default:
				if linger == nil {
					break gather
				}
				select {
				case r, ok := <-l.reqs:
					if !ok {
						break gather
					}
					batch = append(batch, r)
					bytes += recordsSize(r.records)
				case <-linger:
					break gather
				}
			}
		}
		buf = l.commit(batch, buf[:0])
	}
}

func recordsSize(rs [][]byte) int {
	n := 0
	for _, r := range rs {
		n += headerSize + len(r)
	}
	return n
}

func (l *Log) commit(batch []*appendReq, buf []byte) []byte {
	l.mu.Lock()
	seg := l.segments[len(l.segments)-1]
	next := l.end
	l.mu.Unlock()
	type placed struct{ offset, pos int64 }
	var marks []placed
	pos := seg.size
	for _, req := range batch {
		req.first = next
		for _, r := range req.records {
			var h [headerSize]byte
			binary.BigEndian.PutUint32(h[0:], magic)
			binary.BigEndian.PutUint64(h[4:], uint64(next))
			binary.BigEndian.PutUint32(h[12:], uint32(len(r)))
			binary.BigEndian.PutUint32(h[16:], crc32.Update(crc32.Checksum(h[4:12], castagnoli), castagnoli, r))
			marks = append(marks, placed{next, pos})
			buf = append(buf, h[:]...)
			buf = append(buf, r...)
			pos += int64(headerSize + len(r))
			next++
		}
	}
	_, err := seg.file.Write(buf)
	if err == nil {
		err = seg.file.Sync()
	}
	if err != nil {
		// Take back whatever reached the file, so no partial frame stays.
		if terr := seg.file.Truncate(seg.size); terr != nil {
			l.opts.Logger.Error("event log: cannot take back a failed write; it will be cut at the next start", "err", terr)
		}
		err = unavailable(err)
		for _, req := range batch {
			req.err = err
			close(req.done)
		}
		return buf
	}
	l.mu.Lock()
	for _, m := range marks {
		seg.add(m.offset, m.pos)
	}
	seg.size = pos
	l.end = next
	l.syncs++
	close(l.changed)
	l.changed = make(chan struct{})
	rotate := seg.size >= l.opts.SegmentBytes
	if rotate {
		if err := l.newSegment(next); err != nil {
			l.opts.Logger.Error("event log: cannot start a new segment; appending to the full one", "err", err)
		}
	}
	l.mu.Unlock()
	for _, req := range batch {
		close(req.done)
	}
	return buf
}

// End implements tandem.EventLog.
func (l *Log) End() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// Wait implements tandem.EventLog.
func (l *Log) Wait(ctx context.Context, offset int64) error {
	for {
		l.mu.Lock()
		end, ch := l.end, l.changed
		l.mu.Unlock()
		if end > offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Read implements tandem.EventLog.
func (l *Log) Read(ctx context.Context, from int64, max int) ([]tandem.Record, error) {
	l.mu.Lock()
	segs := make([]segment, len(l.segments))
	for i, s := range l.segments {
		segs[i] = *s // sizes as of now: only synced frames are read
		segs[i].index = s.index[:len(s.index):len(s.index)]
	}
	l.mu.Unlock()
	var out []tandem.Record
	for i := range segs {
		s := &segs[i]
		if s.last < from || len(out) >= max {
			continue
		}
		out = l.readSegment(s, from, max, out)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (l *Log) readSegment(s *segment, from int64, max int, out []tandem.Record) []tandem.Record {
	pos := int64(0)
	j := sort.Search(len(s.index), func(k int) bool { return s.index[k].offset > from })
	if j > 0 {
		pos = s.index[j-1].pos
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.file, pos, s.size-pos), 256<<10)
	for pos < s.size && len(out) < max {
		var h [headerSize]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			break
		}
		offset := int64(binary.BigEndian.Uint64(h[4:]))
		n := int64(binary.BigEndian.Uint32(h[12:]))
		if binary.BigEndian.Uint32(h[0:]) != magic || n > MaxRecord {
			return l.readCareful(s, pos, from, max, out) // damaged since Open
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		if crc32.Update(crc32.Checksum(h[4:12], castagnoli), castagnoli, payload) != binary.BigEndian.Uint32(h[16:]) {
			return l.readCareful(s, pos, from, max, out)
		}
		pos += headerSize + n
		if offset >= from {
			out = append(out, tandem.Record{Offset: offset, Data: payload})
		}
	}
	return out
}

// readCareful reads frame by frame, skipping damage, from pos in s.
func (l *Log) readCareful(s *segment, pos, from int64, max int, out []tandem.Record) []tandem.Record {
	for pos < s.size && len(out) < max {
		offset, payload, next, ok := frameAt(s.file, pos, s.size)
		if !ok {
			pos++
			continue
		}
		if offset >= from {
			out = append(out, tandem.Record{Offset: offset, Data: payload})
		}
		pos = next
	}
	return out
}

// Trim applies the retention of Options to the segments whose records are
// all below consumed (the loader's committed offset): what is not loaded
// is never removed, whatever its age or size. It returns how many
// segments it removed.
func (l *Log) Trim(consumed int64, now time.Time) (int, error) {
	if l.opts.ReadOnly || l.opts.MaxAge <= 0 && l.opts.MaxBytes <= 0 {
		return 0, nil
	}
	l.mu.Lock()
	for _, s := range l.removed {
		s.file.Close()
	}
	l.removed = nil
	var total int64
	for _, s := range l.segments {
		total += s.size
	}
	var gone []*segment
	for len(l.segments) > 1 {
		s := l.segments[0]
		if s.last >= consumed {
			break
		}
		old := false
		if l.opts.MaxAge > 0 {
			if fi, err := os.Stat(s.path); err == nil && now.Sub(fi.ModTime()) > l.opts.MaxAge {
				old = true // the file was last written when its newest record was
			}
		}
		if !old && !(l.opts.MaxBytes > 0 && total > l.opts.MaxBytes) {
			break
		}
		total -= s.size
		gone = append(gone, s)
		l.segments = l.segments[1:]
	}
	// A Read that copied the segment list before this keeps its file open
	// until the next Trim.
	l.removed = gone
	l.mu.Unlock()
	var first error
	for _, s := range gone {
		if err := os.Remove(s.path); err != nil && first == nil {
			first = err
		}
		l.opts.Logger.Info("event log segment removed by retention", "segment", filepath.Base(s.path), "first", s.base, "last", s.last, "bytes", s.size)
	}
	if len(gone) > 0 {
		if d, err := os.Open(l.dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return len(gone), first
}

// First is the offset of the oldest record the log still holds.
func (l *Log) First() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segments) == 0 {
		return l.end
	}
	return l.segments[0].base
}

// Close stops the writer after the appends already queued, and closes
// the files.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed && !l.opts.ReadOnly {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	if !l.opts.ReadOnly {
		close(l.reqs)
	}
	<-l.stopped
	var first error
	for _, s := range append(l.segments, l.removed...) {
		if err := s.file.Close(); err != nil && first == nil {
			first = err
		}
	}
	if l.lock != nil {
		l.lock.Close() // releases the flock
	}
	return first
}
