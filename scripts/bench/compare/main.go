//go:build linux

// Command compare runs fsxsync, the raw-SDK floor (scripts/bench/floor) and the installed peers (s5cmd, rclone,
// aws-cli) side by side on the cases of issue 8, against its own versitygw, and prints one table of medians.
//
//	go run ./scripts/bench/compare                     # everything, 3 runs (make bench-compare installs the peers first)
//	go run ./scripts/bench/compare -quick              # tiny data sets, 1 run: a smoke test of the harness
//	go run ./scripts/bench/compare -mode https         # versitygw over TLS, every tool verifying a throwaway CA
//	go run ./scripts/bench/compare -cases upload-10k,noop-10k -tools fsxsync,floor -runs 5
//
// Method (see scripts/bench/README.md): the data sets are generated from a fixed seed under the work directory
// (put it on tmpfs: TMPDIR=/dev/shm); versitygw serves a posix directory there, pinned to one core, and every tool
// runs pinned to the other, so the server's core and the client's never compete. Runs are interleaved (A B C A B C)
// so that drift on a shared machine hits every tool alike. Before each timed run the previous output is gone
// (uploads go to a fresh prefix, downloads to an emptied directory) and a ballast the size of the data is written
// and freed. After each run the output is compared byte for byte with the source, outside the timing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	engine "github.com/fsxsync/fsxsync/transfer" // fsxsync's defaults; "transfer" is this package's own type
)

// config is everything a harness run depends on; main fills it from flags, the smoke test by hand.
type config struct {
	runs       int
	mode       string   // "http" or "https": how versitygw serves and every tool connects
	cases      []string // case ids; empty means all
	tools      []string // tool names; empty means all
	quick      bool
	workParent string // the work directory is made under it (data, server root, downloads); tmpfs is best
	outDir     string // logs of every run, and the JSON unless jsonPath says otherwise
	jsonPath   string
	keep       bool // keep the work directory for inspection
	serverCore string
	clientCore string
	timeout    time.Duration // per tool run
	versitygw  string
	paths      toolPaths // floor is built by run; the others may be "" (not installed)
	progress   io.Writer
}

func main() {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	cfg := config{progress: os.Stderr}
	var cases, tools string
	var modes string
	flag.StringVar(&modes, "mode", "http", "http, https (versitygw with a throwaway CA every tool trusts) or both, one after the other")
	flag.IntVar(&cfg.runs, "runs", 3, "timed runs of each tool on each case; the table shows medians (default 1 with -quick)")
	flag.StringVar(&cases, "cases", "", "comma-separated case ids to run (default all): "+strings.Join(caseIDs(), ","))
	flag.StringVar(&tools, "tools", "", "comma-separated tools to run (default all): "+strings.Join(allTools, ","))
	flag.BoolVar(&cfg.quick, "quick", false, "tiny data sets and 1 run: a smoke test of the harness, not a measurement")
	flag.StringVar(&cfg.workParent, "work", os.TempDir(), "where to make the work directory (data sets, server data); use tmpfs")
	flag.StringVar(&cfg.outDir, "out", "bench-out", "directory for the per-run logs and the JSON results")
	flag.StringVar(&cfg.jsonPath, "json", "", "where to write the results as JSON (default OUT/bench-results-MODE.json; with -mode both, -MODE is added)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory instead of removing it at the end")
	flag.StringVar(&cfg.serverCore, "server-core", "0", "CPU list for versitygw (taskset -c)")
	flag.StringVar(&cfg.clientCore, "client-core", "1", "CPU list for the tool under test (taskset -c)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "limit for one tool run")
	flag.StringVar(&cfg.versitygw, "versitygw", envOr("FSXSYNC_VERSITYGW", filepath.Join(root, ".tools/bin/versitygw")), "versitygw binary")
	flag.StringVar(&cfg.paths.fsxsync, "fsxsync", envOr("FSXSYNC_BIN", filepath.Join(root, "bin/fsxsync")), "fsxsync binary")
	flag.StringVar(&cfg.paths.s5cmd, "s5cmd", filepath.Join(root, ".tools/bin/s5cmd"), "s5cmd binary (scripts/bench/install-peers.sh builds it)")
	flag.StringVar(&cfg.paths.rclone, "rclone", "/usr/bin/rclone", "rclone binary (Debian's)")
	// Not "aws" from PATH: that may be a pyenv shim of aws-cli v1.
	flag.StringVar(&cfg.paths.aws, "aws", "/usr/bin/aws", "aws-cli v2 binary (Debian's)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	runsSet := false
	flag.Visit(func(f *flag.Flag) { runsSet = runsSet || f.Name == "runs" })
	if cfg.quick && !runsSet {
		cfg.runs = 1
	}
	cfg.cases, cfg.tools = splitList(cases), splitList(tools)
	var runModes []string
	switch modes {
	case "http", "https":
		runModes = []string{modes}
	case "both":
		runModes = []string{"http", "https"}
	default:
		fmt.Fprintf(os.Stderr, "compare: -mode %q: want http, https or both\n", modes)
		os.Exit(2)
	}
	jsonFlag := cfg.jsonPath

	// Ctrl-C cancels the run in flight; deferred cleanups (server, work directory) still happen.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for i, mode := range runModes {
		cfg.mode = mode
		// One JSON file per mode, so that `-mode both` does not overwrite the first with the second.
		cfg.jsonPath = filepath.Join(cfg.outDir, "bench-results-"+mode+".json")
		if jsonFlag != "" {
			cfg.jsonPath = jsonFlag
			if len(runModes) > 1 {
				cfg.jsonPath = strings.TrimSuffix(jsonFlag, ".json") + "-" + mode + ".json"
			}
		}
		rep, err := run(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		if i > 0 {
			fmt.Println()
		}
		printTable(os.Stdout, rep)
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		fmt.Printf("\nJSON: %s; logs of every run: %s\n", cfg.jsonPath, logDir(cfg))
	}
}

// logDir is where a mode's per-run logs go; each mode has its own, since run empties it first.
func logDir(cfg config) string { return filepath.Join(cfg.outDir, "logs", cfg.mode) }

// benchCase is one row of the table.
type benchCase struct {
	id      string
	kind    string // "upload", "download" or "noop"
	data    *dataset
	perFile bool // the rate is files/s rather than MiB/s
}

func (c benchCase) title() string {
	what := fmt.Sprintf("%s x %s", thousands(int64(c.data.files)), size(c.data.size))
	if c.data.dirs == 0 {
		what = "1 file of " + size(c.data.size)
	}
	if c.kind == "noop" {
		return fmt.Sprintf("no-op sync of %s files", thousands(int64(c.data.files)))
	}
	return c.kind + " " + what
}

// makeCases returns the rows of issue 8's table, or the same rows on tiny data with quick.
func makeCases(quick bool) []benchCase {
	big := &dataset{name: "big", files: 1, size: 1 << 30}
	small := &dataset{name: "small", files: 10000, size: 16 << 10, dirs: 100}
	mid := &dataset{name: "mid", files: 1000, size: 1 << 20, dirs: 10}
	if quick {
		big.size = 8 << 20
		small.files, small.dirs = 20, 4
		mid.files, mid.dirs = 5, 2
	}
	return []benchCase{
		{id: "upload-1gib", kind: "upload", data: big},
		{id: "download-1gib", kind: "download", data: big},
		{id: "upload-10k", kind: "upload", data: small, perFile: true},
		{id: "download-10k", kind: "download", data: small, perFile: true},
		{id: "upload-1000x1mib", kind: "upload", data: mid},
		{id: "download-1000x1mib", kind: "download", data: mid},
		{id: "noop-10k", kind: "noop", data: small, perFile: true},
	}
}

func caseIDs() []string {
	var ids []string
	for _, c := range makeCases(false) {
		ids = append(ids, c.id)
	}
	return ids
}

// harness is the state of one run: where things are and the server.
type harness struct {
	cfg      config
	work     string
	srv      *server
	env      []string
	pin      bool
	partSize int64 // the floor's part size
	logDir   string
	seq      int // numbers the log files in the order the runs happened
}

// run does the whole comparison and returns the results; it prints progress to cfg.progress.
func run(ctx context.Context, cfg config) (*report, error) {
	started := time.Now()
	cases, err := selectCases(makeCases(cfg.quick), cfg.cases)
	if err != nil {
		return nil, err
	}
	tools, err := selectTools(cfg.tools)
	if err != nil {
		return nil, err
	}
	if cfg.mode == "" {
		cfg.mode = "http"
	}
	if cfg.mode != "http" && cfg.mode != "https" {
		return nil, fmt.Errorf("mode %q: want http or https", cfg.mode)
	}
	if cfg.runs < 1 {
		return nil, errors.New("-runs must be at least 1")
	}
	if installed(cfg.paths.fsxsync) == "" && contains(tools, "fsxsync") {
		return nil, fmt.Errorf("fsxsync not found at %s: run `make build` (or set -fsxsync)", cfg.paths.fsxsync)
	}
	if installed(cfg.versitygw) == "" {
		return nil, fmt.Errorf("versitygw not found at %s: run `make tools` (or set -versitygw)", cfg.versitygw)
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, partSize: engine.DefaultPartSize, logDir: logDir(cfg)}
	if cfg.quick {
		h.partSize = 5 << 20 // so that the quick 8 MiB file still takes floor-mpu's multipart path and the floor's ranged GETs
	}
	_, err = exec.LookPath("taskset")
	h.pin = err == nil
	if h.work, err = os.MkdirTemp(cfg.workParent, "fsxsync-bench-"); err != nil {
		return nil, err
	}
	if cfg.keep {
		fmt.Fprintln(cfg.progress, "work directory (kept):", h.work)
	} else {
		defer os.RemoveAll(h.work)
	}
	os.RemoveAll(h.logDir) // logs of an earlier run would be mistaken for this one's
	if err := os.MkdirAll(h.logDir, 0o755); err != nil {
		return nil, err
	}

	// The floor is built from this checkout, so it uses the same SDK version as fsxsync.
	h.cfg.paths.floor = filepath.Join(h.work, "floor")
	build := exec.CommandContext(ctx, "go", "build", "-o", h.cfg.paths.floor, "./scripts/bench/floor")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the floor: %v\n%s", err, out)
	}

	rep := &report{Started: started, Mode: cfg.mode, Runs: cfg.runs, Quick: cfg.quick, Pinned: h.pin,
		ServerCore: cfg.serverCore, ClientCore: cfg.clientCore, Machine: machine(),
		Versions: map[string]string{"versitygw": version("versitygw", cfg.versitygw)}}
	if !h.pin {
		rep.Notes = append(rep.Notes, "taskset not found: server and tools ran unpinned, so figures are noisier")
	}
	for _, t := range tools {
		p := installed(h.cfg.paths.path(t))
		if p == "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: not installed (looked at %s; scripts/bench/install-peers.sh installs it)", t, h.cfg.paths.path(t)))
		} else if !contains(floors, t) {
			rep.Versions[t] = version(t, p)
		}
	}

	fmt.Fprintln(cfg.progress, "generating data sets in", h.work)
	generated := map[string]bool{}
	for _, c := range cases {
		if !generated[c.data.name] {
			if err := c.data.generate(filepath.Join(h.work, "data", c.data.name)); err != nil {
				return nil, fmt.Errorf("generating %s: %w", c.data.name, err)
			}
			generated[c.data.name] = true
		}
	}
	fmt.Fprintf(cfg.progress, "versitygw over %s\n", cfg.mode)
	if h.srv, err = startServer(cfg.versitygw, filepath.Join(h.work, "gw"), cfg.serverCore, h.pin, cfg.mode == "https"); err != nil {
		return nil, err
	}
	defer h.srv.stop()
	h.env = baseEnv(h.srv)

	// The download cases read what the floor put under src/<data set>/ (plain objects, no tool's metadata).
	seeded := map[string]bool{}
	for _, c := range cases {
		if c.kind != "download" || seeded[c.data.name] {
			continue
		}
		t := transfer{kind: "upload", dir: h.dataDir(c), prefix: "src/" + c.data.name + "/"}
		v := variants("floor", h.cfg.paths, h.srv, h.partSize, h.work)[0]
		if r := h.execute(ctx, v, t, "seed-"+c.data.name); r.Error != "" {
			return nil, fmt.Errorf("uploading the %s data set for the download cases: %s", c.data.name, r.Error)
		}
		seeded[c.data.name] = true
	}

	for ci, c := range cases {
		cr := &caseResult{ID: c.id, Title: c.title(), Files: c.data.files, Bytes: c.data.bytes(), Unit: "MiB/s"}
		if c.perFile {
			cr.Unit = "files/s"
		}
		rep.Cases = append(rep.Cases, cr)
		// Every selected tool gets a column; its variants run in turn in each round.
		var vs []variant
		results := map[string]*variantResult{}
		for _, tool := range tools {
			tr := &toolResult{Tool: tool, Status: "ok"}
			cr.Tools = append(cr.Tools, tr)
			if installed(h.cfg.paths.path(tool)) == "" {
				tr.Status = "not installed"
				continue
			}
			if tool == "floor-mpu" && (c.kind != "upload" || c.data.dirs != 0) {
				tr.Status = "n/a" // the same as the floor everywhere but on a one-file upload
				continue
			}
			for _, v := range variants(tool, h.cfg.paths, h.srv, h.partSize, h.work) {
				vr := &variantResult{Name: v.name}
				tr.Variants = append(tr.Variants, vr)
				results[v.String()] = vr
				vs = append(vs, v)
			}
			if c.kind == "noop" {
				if err := h.prime(ctx, c, tool); err != nil {
					for _, vr := range tr.Variants {
						vr.Failed = err.Error()
					}
				}
			}
		}
		for i := 1; i <= cfg.runs; i++ {
			for _, v := range vs {
				vr := results[v.String()]
				if vr.Failed != "" {
					continue // a tool that failed once is not timed again on this case
				}
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				r := h.timedRun(ctx, c, v, i)
				vr.Runs = append(vr.Runs, r)
				if vr.Command == nil {
					vr.Command = r.command
				}
				status := fmt.Sprintf("%.2f s", r.Seconds)
				if r.Error != "" {
					vr.Failed = r.Error
					status = "FAILED: " + r.Error
				}
				fmt.Fprintf(cfg.progress, "[%d/%d] %-18s run %d/%d  %-14s %s\n", ci+1, len(cases), c.id, i, cfg.runs, v, status)
			}
		}
		summarize(cr)
	}
	rep.Finished = time.Now()
	rep.WallSeconds = rep.Finished.Sub(started).Seconds()
	return rep, nil
}

func (h *harness) dataDir(c benchCase) string { return filepath.Join(h.work, "data", c.data.name) }

// slug names a variant in prefixes, directories and log files.
func slug(v variant) string { return v.tool + "-" + v.name }

// prime runs a tool's default variant once before the no-op case, into the prefix (and, for fsxsync, the state
// directory) its timed no-op runs will use, as a user's second sync would find them.
func (h *harness) prime(ctx context.Context, c benchCase, tool string) error {
	v := variants(tool, h.cfg.paths, h.srv, h.partSize, h.work)[0]
	t := h.noopTransfer(c, tool) // the same sync command as the timed runs
	if tool == "floor" {
		t.kind = "upload" // the floor's noop mode only compares; its upload mode puts the tree there
	}
	fmt.Fprintf(h.cfg.progress, "priming %s for %s\n", tool, c.id)
	if r := h.execute(ctx, v, t, "prime-"+tool); r.Error != "" {
		return fmt.Errorf("priming sync: %s", r.Error)
	}
	if err := c.data.sameTree(h.dataDir(c), h.srv.prefixDir(t.prefix)); err != nil {
		return fmt.Errorf("priming sync: %w", err)
	}
	return nil
}

func (h *harness) noopTransfer(c benchCase, tool string) transfer {
	return transfer{kind: "noop", dir: h.dataDir(c), prefix: "noop/" + tool + "/",
		stateDir: filepath.Join(h.work, "state", "noop-"+tool)}
}

// timedRun prepares, times and checks one run of a variant on a case.
func (h *harness) timedRun(ctx context.Context, c benchCase, v variant, i int) runResult {
	var t transfer
	switch c.kind {
	case "upload":
		// A fresh prefix each run: nothing at the destination, as for every other tool.
		t = transfer{kind: "upload", dir: h.dataDir(c), prefix: fmt.Sprintf("up/%s/%s/r%d/", c.id, slug(v), i)}
	case "download":
		t = transfer{kind: "download", dir: filepath.Join(h.work, "dl", slug(v)), prefix: "src/" + c.data.name + "/"}
	case "noop":
		t = h.noopTransfer(c, v.tool)
	}
	if c.data.dirs == 0 {
		t.file = singleFile
	}
	if t.stateDir == "" {
		// No cache from an earlier run: each transfer run starts with an empty state directory.
		t.stateDir = filepath.Join(h.work, "state", fmt.Sprintf("%s-%s-r%d", c.id, slug(v), i))
		defer os.RemoveAll(t.stateDir)
	}
	if t.kind == "download" {
		os.RemoveAll(t.dir)
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			return runResult{Error: err.Error()}
		}
		defer os.RemoveAll(t.dir)
	}
	if t.kind == "upload" {
		// Dropped after the check: the server's data is on tmpfs, and 8 variants x 3 runs of 1 GiB would not fit.
		defer os.RemoveAll(h.srv.prefixDir(t.prefix))
	}
	if err := ballast(h.work, c.data.bytes()); err != nil {
		return runResult{Error: "ballast: " + err.Error()}
	}
	start := time.Now()
	r := h.execute(ctx, v, t, fmt.Sprintf("%s-%s-r%d", c.id, slug(v), i))
	if r.Error != "" {
		return r
	}
	var err error
	switch t.kind {
	case "upload":
		err = c.data.sameTree(h.dataDir(c), h.srv.prefixDir(t.prefix))
	case "download":
		err = c.data.sameTree(h.dataDir(c), t.dir)
	case "noop":
		var n int
		if n, err = changedSince(h.srv.prefixDir(t.prefix), start); err == nil && n > 0 {
			err = fmt.Errorf("the no-op sync rewrote %d objects", n)
		}
	}
	if err != nil {
		r.Error = "check: " + err.Error()
	}
	return r
}

// execute runs one command of a variant pinned to the client core, with its output in a log file, and measures
// wall time, the tool's CPU time and peak RSS (from wait4's rusage: taskset execs the tool, so this is the tool's
// own), and the server's CPU time over the same interval.
func (h *harness) execute(ctx context.Context, v variant, t transfer, name string) runResult {
	args := v.args(t)
	r := runResult{command: args}
	h.seq++
	r.Log = filepath.Join(h.logDir, fmt.Sprintf("%03d-%s.log", h.seq, name))
	logf, err := os.Create(r.Log)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer logf.Close()
	fmt.Fprintf(logf, "$ %s\n", strings.Join(args, " "))
	if h.pin {
		args = append([]string{"taskset", "-c", h.cfg.clientCore}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(append([]string{}, h.env...), v.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	serverBefore := h.srv.cpuSeconds()
	h.srv.resetPeakRSS()
	start := time.Now()
	err = cmd.Run()
	r.Seconds = time.Since(start).Seconds()
	r.ServerCPUSeconds = h.srv.cpuSeconds() - serverBefore
	r.ServerMaxRSSMiB = h.srv.peakRSSMiB()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		r.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
		r.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	if err != nil {
		r.Error = fmt.Sprintf("%v (log %s): %s", err, r.Log, lastLine(r.Log))
	}
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// lastLine returns the last non-empty line of a log, the usual place of a tool's error message.
func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func selectCases(all []benchCase, ids []string) ([]benchCase, error) {
	if len(ids) == 0 {
		return all, nil
	}
	var out []benchCase
	for _, id := range ids {
		found := false
		for _, c := range all {
			if c.id == id {
				out, found = append(out, c), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown case %q; cases: %s", id, strings.Join(caseIDs(), ","))
		}
	}
	return out, nil
}

// selectTools keeps the table's column order whatever order -tools lists them in.
func selectTools(names []string) ([]string, error) {
	if len(names) == 0 {
		return allTools, nil
	}
	for _, n := range names {
		if !contains(allTools, n) {
			return nil, fmt.Errorf("unknown tool %q; tools: %s", n, strings.Join(allTools, ","))
		}
	}
	var out []string
	for _, t := range allTools {
		if contains(names, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// moduleRoot walks up from the working directory to the nearest directory with a go.mod: the repository root both
// for `go run ./scripts/bench/compare` from the root and for `go test` in this package's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the fsxsync repository")
		}
		dir = parent
	}
}

// machine describes where the figures come from: CPUs and kernel.
func machine() string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs, Linux %s", numCPU(), strings.TrimSpace(string(kernel)))
}
