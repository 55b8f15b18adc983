package transfer

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The sync state file is how a no-op sync avoids one HeadObject per object. S3 listings carry size, ETag and
// LastModified but no user metadata, so the exact POSIX mtime of an object is not in them. fsxsync knows it for every
// object it uploaded, downloaded or inspected, so it writes those facts down, sorted by key, one line each:
//
//	<size> <etag> <mtime-ns> <quoted key>
//
// On the next run the file is read as a third sorted stream beside the S3 listing. An object whose size and ETag
// still match its record gets the recorded mtime; any other object (changed by someone else, or never seen) is
// inspected with HeadObject when its size alone cannot decide. The file is only a cache: losing it costs HEAD
// requests, never correctness, and concurrent runs that overwrite each other's file lose nothing but that.

const stateHeader = "fsxsync-state v1"

// stateRecord is what fsxsync knows about one object.
type stateRecord struct {
	Key   string // relative key
	Size  int64
	ETag  string
	Mtime time.Time
}

// StatePath returns the state file for one pair of local root and S3 location, under dir.
func StatePath(dir, endpoint, bucket, prefix, localRoot string) string {
	abs, err := filepath.Abs(localRoot)
	if err != nil {
		abs = localRoot
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{endpoint, bucket, prefix, abs}, "\x00")))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".state")
}

// stateReader looks records up in key order.
type stateReader struct {
	f    *os.File
	sc   *bufio.Scanner
	cur  stateRecord
	have bool
}

// openState opens the state file for reading; a missing or unreadable file is an empty state.
func openState(path string) (*stateReader, error) {
	r := &stateReader{}
	if path == "" {
		return r, nil
	}
	f, err := os.Open(path)
	if err != nil {
		// Missing (the first run) or unreadable: the state is only a cache, so start without it.
		return r, nil
	}
	r.f = f
	r.sc = bufio.NewScanner(f)
	r.sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !r.sc.Scan() || r.sc.Text() != stateHeader {
		// A foreign or older file: ignore it rather than trust it.
		r.sc = nil
	}
	r.advance()
	return r, nil
}

func (r *stateReader) advance() {
	r.have = false
	for r.sc != nil && r.sc.Scan() {
		rec, err := parseStateLine(r.sc.Text())
		if err == nil {
			r.cur, r.have = rec, true
			return
		}
	}
}

// lookup returns the record for key. Keys must be asked for in increasing order.
func (r *stateReader) lookup(key string) (stateRecord, bool) {
	for r.have && r.cur.Key < key {
		r.advance()
	}
	if r.have && r.cur.Key == key {
		return r.cur, true
	}
	return stateRecord{}, false
}

// Close releases the file.
func (r *stateReader) Close() {
	if r.f != nil {
		r.f.Close()
	}
}

func parseStateLine(line string) (stateRecord, error) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) != 4 {
		return stateRecord{}, fmt.Errorf("state line has %d fields", len(parts))
	}
	size, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return stateRecord{}, err
	}
	if parts[1] == "" {
		// formatStateLine writes "-" for a missing ETag, so an empty field is damage; read as "" it would match
		// every listed object that has no ETag.
		return stateRecord{}, fmt.Errorf("state line has an empty ETag")
	}
	ns, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return stateRecord{}, err
	}
	key, err := strconv.Unquote(parts[3])
	if err != nil {
		return stateRecord{}, err
	}
	return stateRecord{Key: key, Size: size, ETag: parts[1], Mtime: time.Unix(0, ns)}, nil
}

func formatStateLine(b []byte, r *stateRecord) []byte {
	b = strconv.AppendInt(b, r.Size, 10)
	b = append(b, ' ')
	etag := r.ETag
	if etag == "" || strings.ContainsAny(etag, " \n") {
		etag = "-"
	}
	b = append(b, etag...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.Mtime.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, r.Key)
	return append(b, '\n')
}

// stateWriter writes the new state file in key order. Results arrive in completion order, so it keeps the records
// that are ahead of the oldest unfinished item until that one is done: memory grows only with the number of items
// that finish while a slow one is in flight, at about 100 bytes each.
type stateWriter struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	next    int
	pending map[int]*stateRecord
	err     error
	line    []byte
}

func newStateWriter(path string) *stateWriter {
	s := &stateWriter{path: path, pending: map[int]*stateRecord{}}
	if path == "" {
		return s
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		s.err = fmt.Errorf("state file: %w", err)
		return s
	}
	// The temp file is named after the state file, so that one left by a killed run of the same sync (same pair,
	// same shard) is recognisable and removed here; other syncs' temp files in the directory are left alone.
	pattern := filepath.Base(path) + ".tmp-*"
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), pattern)); len(old) > 0 {
		for _, o := range old {
			os.Remove(o)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		s.err = fmt.Errorf("state file: %w", err)
		return s
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	s.w.WriteString(stateHeader + "\n")
	return s
}

// add records the result of item seq (rec may be nil: nothing to remember). Every seq must be added exactly once.
func (s *stateWriter) add(seq int, rec *stateRecord) {
	if s.w == nil {
		return
	}
	if seq != s.next {
		s.pending[seq] = rec
		return
	}
	s.write(rec)
	s.next++
	for {
		r, ok := s.pending[s.next]
		if !ok {
			return
		}
		delete(s.pending, s.next)
		s.write(r)
		s.next++
	}
}

func (s *stateWriter) write(r *stateRecord) {
	if r == nil {
		return
	}
	s.line = formatStateLine(s.line[:0], r)
	s.w.Write(s.line)
}

// commit replaces the old state file with the new one when the run got through the whole listing; otherwise the
// old file is kept, since the new one would be missing every key the run did not reach.
func (s *stateWriter) commit(complete bool) error {
	if s.f == nil {
		return s.err
	}
	tmp := s.f.Name()
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && complete && len(s.pending) == 0 {
		err = os.Rename(tmp, s.path)
		if err == nil {
			return nil
		}
	}
	os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	return nil
}
