package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/fsxsync/fsxsync/internal/testenv"
)

var updateDemo = flag.Bool("update-demo", false, "rewrite testdata/demo.golden from a run of scripts/demo.sh")

// demoMasks make a demo transcript comparable across runs and machines: what changes from run to run (ports, temp
// directories, times, rates and CPU figures, the generated root key, the random file's hash) or from machine to
// machine (the file system under the temp directory, table padding that follows its path's length) is replaced by a
// placeholder.
var demoMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\S*/fsxsync-demo\.[A-Za-z0-9]+`), "$$WORK"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`\b\d+\.\d+s\b`), "N.Ns"},
	{regexp.MustCompile(`\(\d+(\.\d+)? [KMGT]?i?B/s\)`), "(RATE)"},
	{regexp.MustCompile(`\b\d+\.\d+ CPU-s\b`), "N.NN CPU-s"},
	{regexp.MustCompile(`\(\d+(\.\d+)? [KMGT]?i?B per CPU-s\)`), "(CPU RATE)"},
	{regexp.MustCompile(`[A-Za-z0-9]{4}…[A-Za-z0-9]{4}`), "KEY…KEY"},
	{regexp.MustCompile(`local file system \S+ at \S+`), "local file system FSTYPE at MOUNT"},
	{regexp.MustCompile(`[0-9a-f]{64}(  \./data/random-20MiB\.bin)`), "RANDOM-SHA256$1"},
	{regexp.MustCompile(` {2,}`), "  "},
}

// TestDemoTranscript runs `make demo`'s script and compares what it prints with testdata/demo.golden, so that the
// first thing a newcomer runs never breaks or changes unnoticed. Run with -update-demo after an intended change.
func TestDemoTranscript(t *testing.T) {
	gw := os.Getenv("FSXSYNC_VERSITYGW")
	if gw == "" {
		testenv.Missing(t, "versitygw", errors.New("FSXSYNC_VERSITYGW is not set (make test sets it)"))
	}
	root := moduleRoot(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "FSXSYNC_BIN="+fsxsyncBinary(t), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, out)
	}
	got := out
	for _, m := range demoMasks {
		got = m.re.ReplaceAll(got, []byte(m.with))
	}
	golden := filepath.Join("testdata", "demo.golden")
	if *updateDemo {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the demo's transcript changed (run go test ./cmd/fsxsync -run TestDemoTranscript -update-demo if intended)\n--- got:\n%s\n--- want:\n%s", got, want)
	}
}
