package transfer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestChangedFileIsNotUploaded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("0123456789"), 0o644)
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"grew", func() { os.WriteFile(p, []byte("0123456789abc"), 0o644) }},
		{"shrank", func() { os.WriteFile(p, []byte("0123"), 0o644) }},
		{"rewritten", func() {
			os.WriteFile(p, []byte("ABCDEFGHIJ"), 0o644)
			os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(p, []byte("0123456789"), 0o644)
			f, _ := os.Open(p)
			defer f.Close()
			fi, _ := f.Stat()
			r := &stableReader{f: f, size: fi.Size(), mtime: fi.ModTime(), path: p}
			buf := make([]byte, 3)
			r.Read(buf) // part of the file is read, then it changes
			tc.change()
			_, err := io.ReadAll(r)
			var ce *ChangedError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want ChangedError", err)
			}
		})
	}
}
