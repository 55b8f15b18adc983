//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/internal/testenv"
)

// TestQuick runs the whole harness in -quick mode with fsxsync and both floors, over HTTP and over HTTPS (a
// throwaway CA the tools must trust, verification on): the gateway starts pinned, every case runs, every output
// passes its byte-for-byte check, and the table and the JSON come out. It needs the binaries
// `make test` names in FSXSYNC_VERSITYGW and FSXSYNC_BIN; without them it skips, except in CI (CI=true), where it
// fails, as the other server tests do, so that CI cannot pass without running it.
func TestQuick(t *testing.T) {
	gw, bin := os.Getenv("FSXSYNC_VERSITYGW"), os.Getenv("FSXSYNC_BIN")
	if gw == "" || bin == "" {
		testenv.Missing(t, "versitygw and fsxsync",
			errors.New("FSXSYNC_VERSITYGW and FSXSYNC_BIN are not set: run `make test`, which builds and names both"))
	}
	for _, mode := range []string{"http", "https"} {
		t.Run(mode, func(t *testing.T) { testQuick(t, mode, gw, bin) })
	}
}

func testQuick(t *testing.T, mode, gw, bin string) {
	out := t.TempDir()
	cfg := config{
		mode:       mode,
		runs:       1,
		quick:      true,
		tools:      []string{"fsxsync", "floor", "floor-mpu"},
		workParent: t.TempDir(),
		outDir:     out,
		serverCore: "0",
		clientCore: "1",
		timeout:    time.Minute,
		versitygw:  gw,
		paths:      toolPaths{fsxsync: bin},
		progress:   testWriter{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	if len(rep.Cases) != len(makeCases(true)) {
		t.Fatalf("%d cases ran, want %d", len(rep.Cases), len(makeCases(true)))
	}
	for _, cr := range rep.Cases {
		if len(cr.Tools) != 3 {
			t.Fatalf("%s: %d tools, want fsxsync, floor and floor-mpu", cr.ID, len(cr.Tools))
		}
		for _, tr := range cr.Tools {
			if tr.Tool == "floor-mpu" && cr.ID != "upload-1gib" {
				if tr.Status != "n/a" {
					t.Errorf("%s floor-mpu: status %q, want n/a (it runs on one-file uploads only)", cr.ID, tr.Status)
				}
				continue
			}
			if tr.Status != "ok" || tr.Rate <= 0 || tr.MaxRSSMiB <= 0 || tr.CPUSeconds <= 0 {
				for _, vr := range tr.Variants {
					t.Logf("%s %s/%s: %s", cr.ID, tr.Tool, vr.Name, vr.Failed)
				}
				t.Errorf("%s %s: status %q, rate %v, RSS %v MiB, CPU %v s", cr.ID, tr.Tool, tr.Status, tr.Rate, tr.MaxRSSMiB, tr.CPUSeconds)
			}
		}
		if cr.FsxsyncPerFloor <= 0 || cr.FsxsyncCPUPerFloor <= 0 {
			t.Errorf("%s: no fsxsync/floor ratio (rate %v, CPU %v)", cr.ID, cr.FsxsyncPerFloor, cr.FsxsyncCPUPerFloor)
		}
		if (cr.FsxsyncPerFloorMPU > 0) != (cr.ID == "upload-1gib") {
			t.Errorf("%s: fsxsync/floor-mpu ratio %v, want one on upload-1gib only", cr.ID, cr.FsxsyncPerFloorMPU)
		}
	}

	var table bytes.Buffer
	printTable(&table, rep)
	t.Log("\n" + table.String())
	for _, want := range []string{"| case | fsxsync | floor | floor-mpu | fsxsync/floor |", "no-op sync of 20 files",
		"QUICK MODE", "Over " + strings.ToUpper(mode) + "."} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}

	path := filepath.Join(out, "bench-results-"+mode+".json")
	if err := writeJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Cases) != len(rep.Cases) {
		t.Fatalf("JSON does not read back: %v", err)
	}
}

// testWriter sends the harness's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSummarize checks the arithmetic of a row on made-up runs: medians, each tool's best variant, the ratios.
func TestSummarize(t *testing.T) {
	runs := func(secs ...float64) []runResult {
		var rs []runResult
		for _, s := range secs {
			rs = append(rs, runResult{Seconds: s, MaxRSSMiB: 10 * s, CPUSeconds: s / 2, ServerCPUSeconds: s / 4})
		}
		return rs
	}
	cr := &caseResult{Unit: "files/s", Files: 1000, Tools: []*toolResult{
		{Tool: "fsxsync", Status: "ok", Variants: []*variantResult{{Name: "default", Runs: runs(2, 1, 9)}}},
		{Tool: "floor", Status: "ok", Variants: []*variantResult{{Name: "default", Runs: runs(0.5, 0.5, 0.5)}}},
		{Tool: "floor-mpu", Status: "ok", Variants: []*variantResult{{Name: "default", Runs: runs(1, 1, 1)}}},
		{Tool: "s5cmd", Status: "ok", Variants: []*variantResult{
			{Name: "default", Runs: runs(4, 4, 4)}, {Name: "w32", Runs: runs(3, 4, 1)}}},
		{Tool: "rclone", Status: "ok", Variants: []*variantResult{{Name: "default", Failed: "boom"}}},
		{Tool: "aws", Status: "not installed"},
	}}
	summarize(cr)
	fsx, s5, rc := cr.Tools[0], cr.Tools[3], cr.Tools[4]
	if fsx.MedianSeconds != 2 || fsx.Rate != 500 || fsx.MaxRSSMiB != 90 || fsx.CPUSeconds != 1 || fsx.ServerCPUSeconds != 0.5 {
		t.Errorf("fsxsync: median %v rate %v RSS %v CPU %v server CPU %v, want 2, 500, 90, 1, 0.5",
			fsx.MedianSeconds, fsx.Rate, fsx.MaxRSSMiB, fsx.CPUSeconds, fsx.ServerCPUSeconds)
	}
	// The CPU ratio is against floor-mpu when it ran: 1 CPU-s over its 0.5.
	if cr.FsxsyncPerFloorMPU != 0.5 || cr.FsxsyncCPUPerFloor != 2 {
		t.Errorf("floor-mpu ratios: rate %v, CPU %v; want 0.5, 2", cr.FsxsyncPerFloorMPU, cr.FsxsyncCPUPerFloor)
	}
	if s5.Best != "w32" || s5.MedianSeconds != 3 {
		t.Errorf("s5cmd: best %q median %v, want w32, 3", s5.Best, s5.MedianSeconds)
	}
	if rc.Status != "failed" {
		t.Errorf("rclone: status %q, want failed", rc.Status)
	}
	if cr.FsxsyncPerFloor != 0.25 || cr.BestPeer != "s5cmd" || cr.FsxsyncPerBestPeer != 1.5 {
		t.Errorf("ratios: floor %v, best peer %s %v; want 0.25, s5cmd 1.5", cr.FsxsyncPerFloor, cr.BestPeer, cr.FsxsyncPerBestPeer)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4 values: %v, want 2.5", got)
	}
}
