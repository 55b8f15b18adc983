//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report is the whole result of a harness run, as printed and as written to JSON.
type report struct {
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	WallSeconds float64           `json:"wall_seconds"`
	Mode        string            `json:"mode"` // "http" or "https"
	Runs        int               `json:"runs"`
	Quick       bool              `json:"quick"`
	Pinned      bool              `json:"pinned"`
	ServerCore  string            `json:"server_core"`
	ClientCore  string            `json:"client_core"`
	Machine     string            `json:"machine"`
	Versions    map[string]string `json:"versions"`
	Cases       []*caseResult     `json:"cases"`
	Notes       []string          `json:"notes,omitempty"`
}

// caseResult is one row: every tool's figures and fsxsync's ratios.
type caseResult struct {
	ID    string        `json:"id"`
	Title string        `json:"title"`
	Unit  string        `json:"unit"` // of every rate in the row: "MiB/s" or "files/s"
	Files int           `json:"files"`
	Bytes int64         `json:"bytes"`
	Tools []*toolResult `json:"tools"`
	// FsxsyncPerFloor is fsxsync's rate over the floor's: 1 is parity, 0.5 means fsxsync takes twice as long.
	FsxsyncPerFloor float64 `json:"fsxsync_per_floor,omitempty"`
	// FsxsyncPerFloorMPU is the same against floor-mpu (one-file uploads only: the floor's multipart variant).
	FsxsyncPerFloorMPU float64 `json:"fsxsync_per_floor_mpu,omitempty"`
	// FsxsyncCPUPerFloor is fsxsync's median client CPU seconds over the floor's (floor-mpu's where it ran): the
	// client work fsxsync adds; 1.25 means a quarter more.
	FsxsyncCPUPerFloor float64 `json:"fsxsync_cpu_per_floor,omitempty"`
	// FsxsyncPerBestPeer is fsxsync's rate over the fastest installed peer's; above 1 fsxsync is ahead.
	FsxsyncPerBestPeer float64 `json:"fsxsync_per_best_peer,omitempty"`
	BestPeer           string  `json:"best_peer,omitempty"`
}

// toolResult is one cell: the tool's best variant (lowest median time) and all its variants.
type toolResult struct {
	Tool          string  `json:"tool"`
	Status        string  `json:"status"` // "ok", "not installed", "n/a" (floor-mpu off its row) or "failed"
	Best          string  `json:"best_variant,omitempty"`
	MedianSeconds float64 `json:"median_seconds,omitempty"`
	Rate          float64 `json:"rate,omitempty"`
	MaxRSSMiB     float64 `json:"max_rss_mib,omitempty"`
	// CPUSeconds and ServerCPUSeconds are the best variant's medians (see variantResult).
	CPUSeconds       float64          `json:"median_cpu_seconds,omitempty"`
	ServerCPUSeconds float64          `json:"median_server_cpu_seconds,omitempty"`
	ServerMaxRSSMiB  float64          `json:"server_max_rss_mib,omitempty"` // the best variant's
	Variants         []*variantResult `json:"variants,omitempty"`
}

type variantResult struct {
	Name          string      `json:"name"`
	Command       []string    `json:"command,omitempty"` // of the first run; later runs differ only in paths
	Runs          []runResult `json:"runs"`
	MedianSeconds float64     `json:"median_seconds,omitempty"`
	Rate          float64     `json:"rate,omitempty"`
	MaxRSSMiB     float64     `json:"max_rss_mib,omitempty"` // the highest of its runs
	// CPUSeconds is the median of the runs' client CPU seconds, ServerCPUSeconds of versitygw's during them.
	// Medians of each on their own, not the CPU of the median-time run: a run's CPU moves less than its time.
	CPUSeconds       float64 `json:"median_cpu_seconds,omitempty"`
	ServerCPUSeconds float64 `json:"median_server_cpu_seconds,omitempty"`
	ServerMaxRSSMiB  float64 `json:"server_max_rss_mib,omitempty"` // the highest of its runs
	Failed           string  `json:"failed,omitempty"`
}

type runResult struct {
	Seconds          float64 `json:"seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"`        // the tool's user+system time
	ServerCPUSeconds float64 `json:"server_cpu_seconds"` // versitygw's user+system time during the run
	MaxRSSMiB        float64 `json:"max_rss_mib"`
	ServerMaxRSSMiB  float64 `json:"server_max_rss_mib"` // versitygw's peak RSS during the run
	Log              string  `json:"log"`
	Error            string  `json:"error,omitempty"`

	command []string
}

// summarize fills in medians, rates, each tool's best variant and fsxsync's ratios.
func summarize(cr *caseResult) {
	rates, cpus := map[string]float64{}, map[string]float64{}
	for _, tr := range cr.Tools {
		if tr.Status != "ok" {
			continue
		}
		var best *variantResult
		for _, vr := range tr.Variants {
			if vr.Failed != "" || len(vr.Runs) == 0 {
				continue
			}
			var secs, cpu, srvCPU []float64
			for _, r := range vr.Runs {
				secs = append(secs, r.Seconds)
				cpu = append(cpu, r.CPUSeconds)
				srvCPU = append(srvCPU, r.ServerCPUSeconds)
				vr.MaxRSSMiB = math.Max(vr.MaxRSSMiB, r.MaxRSSMiB)
				vr.ServerMaxRSSMiB = math.Max(vr.ServerMaxRSSMiB, r.ServerMaxRSSMiB)
			}
			vr.MedianSeconds = median(secs)
			vr.CPUSeconds, vr.ServerCPUSeconds = median(cpu), median(srvCPU)
			vr.Rate = cr.rate(vr.MedianSeconds)
			if best == nil || vr.MedianSeconds < best.MedianSeconds {
				best = vr
			}
		}
		if best == nil {
			tr.Status = "failed"
			continue
		}
		tr.Best, tr.MedianSeconds, tr.Rate, tr.MaxRSSMiB = best.Name, best.MedianSeconds, best.Rate, best.MaxRSSMiB
		tr.CPUSeconds, tr.ServerCPUSeconds, tr.ServerMaxRSSMiB = best.CPUSeconds, best.ServerCPUSeconds, best.ServerMaxRSSMiB
		rates[tr.Tool] = tr.Rate
		cpus[tr.Tool] = tr.CPUSeconds
	}
	fsx := rates["fsxsync"]
	if fsx == 0 {
		return
	}
	if f := rates["floor"]; f > 0 {
		cr.FsxsyncPerFloor = fsx / f
	}
	if f := rates["floor-mpu"]; f > 0 {
		cr.FsxsyncPerFloorMPU = fsx / f
	}
	// The client CPU is compared with the floor that does the same kind of requests: floor-mpu where it ran.
	floorCPU := cpus["floor"]
	if c := cpus["floor-mpu"]; c > 0 {
		floorCPU = c
	}
	if floorCPU > 0 {
		cr.FsxsyncCPUPerFloor = cpus["fsxsync"] / floorCPU
	}
	for _, p := range peers {
		if r := rates[p]; r > 0 && (cr.BestPeer == "" || r > rates[cr.BestPeer]) {
			cr.BestPeer = p
		}
	}
	if cr.BestPeer != "" {
		cr.FsxsyncPerBestPeer = fsx / rates[cr.BestPeer]
	}
}

func (cr *caseResult) rate(seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	if cr.Unit == "files/s" {
		return float64(cr.Files) / seconds
	}
	return float64(cr.Bytes) / (1 << 20) / seconds
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// printTable writes the one table (Markdown, so it pastes into an issue), then how to read it.
func printTable(w io.Writer, rep *report) {
	if len(rep.Cases) == 0 {
		return
	}
	var tools []string
	for _, tr := range rep.Cases[0].Tools {
		tools = append(tools, tr.Tool)
	}
	header := append(append([]string{"case"}, tools...), "fsxsync/floor", "fsxsync/best peer", "fsxsync CPU/floor CPU")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, cr := range rep.Cases {
		cells := []string{cr.Title}
		for _, tr := range cr.Tools {
			cells = append(cells, cell(cr, tr))
		}
		ratio := func(r float64) string {
			if r == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", r)
		}
		best := ratio(cr.FsxsyncPerBestPeer)
		if cr.BestPeer != "" {
			best += " (" + cr.BestPeer + ")"
		}
		floor := ratio(cr.FsxsyncPerFloor)
		if cr.FsxsyncPerFloorMPU > 0 {
			floor += fmt.Sprintf(" (floor-mpu %.2fx)", cr.FsxsyncPerFloorMPU)
		}
		cells = append(cells, floor, best, ratio(cr.FsxsyncCPUPerFloor))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintf(w, "\nOver %s. Each cell: rate from the median of %d run(s), median seconds, median CPU seconds of the"+
		" tool (c) and of versitygw during its runs (s), peak RSS of the tool and (s) of versitygw during its runs; [variant] when a"+
		" peer's best was not its default (w32: --numworkers 32, t32: --transfers 32 --checkers 32, c32:"+
		" max_concurrent_requests = 32). Rate ratios are fsxsync's rate over the other's: below 1 fsxsync is slower."+
		" floor-mpu is the floor's multipart upload (fsxsync's part size and concurrency), on one-file uploads only;"+
		" the CPU ratio is fsxsync's client CPU over the floor's (floor-mpu's where it ran).\n", strings.ToUpper(rep.Mode), rep.Runs)
	pin := fmt.Sprintf("versitygw pinned to CPU %s, tools to CPU %s", rep.ServerCore, rep.ClientCore)
	if !rep.Pinned {
		pin = "unpinned"
	}
	fmt.Fprintf(w, "%s; %s; %s; wall time %s.\n", rep.Machine, pin, versions(rep), time.Duration(rep.WallSeconds*float64(time.Second)).Round(time.Second))
	if rep.Quick {
		fmt.Fprintln(w, "QUICK MODE: tiny data sets, a smoke test of the harness; the figures mean nothing.")
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, cr := range rep.Cases {
		for _, tr := range cr.Tools {
			for _, vr := range tr.Variants {
				if vr.Failed != "" {
					fmt.Fprintf(w, "failed: %s %s/%s: %s\n", cr.ID, tr.Tool, vr.Name, vr.Failed)
				}
			}
		}
	}
}

func cell(cr *caseResult, tr *toolResult) string {
	if tr.Status == "n/a" {
		return "-"
	}
	if tr.Status != "ok" {
		return tr.Status
	}
	s := fmt.Sprintf("%s %s, %.2f s, %.2f c + %.2f s CPU-s, %.0f MiB", commas(tr.Rate), cr.Unit, tr.MedianSeconds,
		tr.CPUSeconds, tr.ServerCPUSeconds, tr.MaxRSSMiB)
	if tr.ServerMaxRSSMiB > 0 {
		s += fmt.Sprintf(" (s %.0f MiB)", tr.ServerMaxRSSMiB)
	}
	if tr.Best != "default" {
		s += " [" + tr.Best + "]"
	}
	return s
}

func versions(rep *report) string {
	var names []string
	for n := range rep.Versions {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		out = append(out, rep.Versions[n])
	}
	return strings.Join(out, "; ")
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// commas formats a rate: whole numbers with thousands separators from 100 up, one decimal below.
func commas(x float64) string {
	if x < 100 {
		return fmt.Sprintf("%.1f", x)
	}
	return thousands(int64(math.Round(x)))
}

// thousands formats n with thousands separators: 10,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// size formats a data set's file size: 16 KiB, 1 MiB, 1 GiB.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func numCPU() int { return runtime.NumCPU() }
