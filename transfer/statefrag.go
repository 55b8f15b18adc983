package transfer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// The tasks of an array that ran a plan's shards know the size, ETag and mtime of every object they moved, which is
// what spares the next plan a HEAD request per object. Each task appends those facts to a state fragment of its
// own beside the planner's state file (in no particular order, since results come in completion order), and the
// next planner merges the fragments into its state file before it lists. Like the state file, a fragment is only a
// cache: a lost or torn one costs HEAD requests, never correctness.

// maxMergeBytes bounds what MergeStateFragments reads into memory (state file and fragments together, about 100
// bytes a record): past it the fragments are left alone and the plan pays HEAD requests instead.
const maxMergeBytes = 2 << 30

// fragmentWriter appends state records to a fragment.
type fragmentWriter struct {
	f    *os.File
	w    *bufio.Writer
	line []byte
}

func openFragment(path string) (*fragmentWriter, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state fragment: %w", err)
	}
	return &fragmentWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// add appends one record; nil writers and records are ignored.
func (fw *fragmentWriter) add(r *stateRecord) {
	if fw == nil || r == nil {
		return
	}
	fw.line = formatStateLine(fw.line[:0], r)
	fw.w.Write(fw.line)
}

func (fw *fragmentWriter) close() error {
	if fw == nil {
		return nil
	}
	err := fw.w.Flush()
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state fragment: %w", err)
	}
	return nil
}

// StateFragments lists the fragments written beside the state file at statePath.
func StateFragments(statePath string) []string {
	m, _ := filepath.Glob(statePath + ".frag-*")
	return m
}

// MergeStateFragments merges the records of fragments into the state file at statePath (a fragment's record wins
// over the file's: it is newer) and removes the fragments it merged. It returns how many keys the fragments added
// to the file; 0 with no error when there was nothing to do or too much to hold in memory.
func MergeStateFragments(statePath string, fragments []string) (int, error) {
	if len(fragments) == 0 {
		return 0, nil
	}
	var total int64
	for _, p := range append([]string{statePath}, fragments...) {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	if total > maxMergeBytes {
		return 0, nil
	}
	recs := map[string]stateRecord{}
	readLines := func(path string, header bool) {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		if header && (!sc.Scan() || sc.Text() != stateHeader) {
			return
		}
		for sc.Scan() {
			// A torn last line (the task was killed mid-append) or a damaged one is left out.
			if r, err := parseStateLine(sc.Text()); err == nil {
				recs[r.Key] = r
			}
		}
	}
	readLines(statePath, true)
	before := len(recs)
	for _, p := range fragments {
		readLines(p, false)
	}
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return 0, fmt.Errorf("state file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(statePath), filepath.Base(statePath)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("state file: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	w.WriteString(stateHeader + "\n")
	var line []byte
	for _, k := range keys {
		r := recs[k]
		line = formatStateLine(line[:0], &r)
		w.Write(line)
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), statePath)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("state file %s: %w", statePath, err)
	}
	for _, p := range fragments {
		os.Remove(p)
	}
	return len(recs) - before, nil
}
