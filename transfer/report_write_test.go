package transfer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
)

// WriteJSON never opens a name it did not create: a FIFO where the old fixed temp name (PATH.tmp) was would have
// blocked the write for ever. Two writers of one path do not share a temp file, and none is left behind.
func TestWriteJSONOwnTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := syscall.Mkfifo(path+".tmp", 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- (&Report{Source: "src", Started: time.Now()}).WriteJSON(path) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteJSON blocked on a FIFO at report.json.tmp")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil || r.Source != "src" {
		t.Fatalf("report %q: %v", b, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("report mode %v, %v; want 0644", st.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, fsx.TempPrefix+"*"))
	if len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}
