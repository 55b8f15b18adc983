package transfer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// The tests in this file hold --include and --exclude to what aws-cli does with them, by running aws-cli itself:
// Debian's awscli 2.9.19 (/usr/bin/aws, which .ci/run installs), or the one $FSXSYNC_AWSCLI names.
//
// $FSXSYNC_AWSCLI_SEED fixes the seed (each local run draws one and logs it; CI uses ciSeed); $FSXSYNC_AWSCLI_CASES sets the number of
// sync cases (default 80, 16 with -short). Each case costs one aws-cli start, about half a second of CPU.

// awscli returns the aws-cli to compare with, or ends the test (a failure under CI) when there is none.
func awscli(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FSXSYNC_AWSCLI")
	if bin == "" {
		bin = "/usr/bin/aws"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "aws-cli (Debian's awscli 2.9.19, apt-get install awscli)", err)
	}
	return bin
}

// ciSeed is the seed under CI: a build must not pass or fail by the draw. Local runs draw a fresh seed each time,
// which is how the cases explore.
const ciSeed = 20261207

// awscliSeed returns $FSXSYNC_AWSCLI_SEED, else ciSeed under CI, else a fresh seed, and logs it so that a failure
// can be replayed.
func awscliSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if testenv.InCI() {
		seed = ciSeed
	}
	if v := os.Getenv("FSXSYNC_AWSCLI_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FSXSYNC_AWSCLI_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with FSXSYNC_AWSCLI_SEED=%d)", seed, seed)
	return seed
}

// TestFilterFnmatchOracle compares the glob matcher with Python's fnmatch, which aws-cli calls, in the Python that
// runs aws-cli: thousands of random patterns and keys through one Python process.
func TestFilterFnmatchOracle(t *testing.T) {
	bin := awscli(t)
	python := "python3"
	if head, err := os.ReadFile(bin); err == nil {
		if line, _, _ := strings.Cut(string(head), "\n"); strings.HasPrefix(line, "#!") && strings.Contains(line, "python") {
			python = strings.Fields(line[2:])[0]
		}
	}
	seed := awscliSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	// The alphabet has every character the syntax gives a meaning to, and a two-byte one.
	const alphabet = "ab/-]![^\\.é"
	pick := func(n int) string {
		r := []rune(alphabet)
		var b strings.Builder
		for range rng.IntN(n) + 1 {
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	type pair struct{ Pattern, Key string }
	var pairs []pair
	var in bytes.Buffer
	for range 5000 {
		var p strings.Builder
		for range rng.IntN(5) + 1 {
			switch rng.IntN(6) {
			case 0:
				p.WriteString("*")
			case 1:
				p.WriteString("?")
			case 2:
				p.WriteString("[" + pick(4))
			default:
				p.WriteString(pick(3))
			}
		}
		pr := pair{p.String(), pick(8)}
		pairs = append(pairs, pr)
		line, _ := json.Marshal([]string{pr.Pattern, pr.Key})
		in.Write(append(line, '\n'))
	}
	const script = `import sys, json, fnmatch
for line in sys.stdin:
    p, k = json.loads(line)
    print(1 if fnmatch.fnmatch(k, p) else 0)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", python, err)
	}
	got := strings.Fields(string(out))
	if len(got) != len(pairs) {
		t.Fatalf("%s answered %d of %d", python, len(got), len(pairs))
	}
	bad := 0
	for i, pr := range pairs {
		f, err := transfer.NewFilter([]transfer.Rule{{Pattern: pr.Pattern}})
		if err != nil {
			t.Fatal(err)
		}
		// An absolute pattern never matches a relative key; fnmatch still compares the strings.
		want := got[i] == "1" && !strings.HasPrefix(pr.Pattern, "/")
		if matched := !f.Match(pr.Key); matched != want {
			t.Errorf("pattern %q, key %q: fsxsync matches %v, fnmatch %v", pr.Pattern, pr.Key, matched, want)
			if bad++; bad > 20 {
				t.FailNow()
			}
		}
	}
}

// awscliTree is one generated pair of trees: files only here, only in S3, and on both sides with different sizes
// (so that both tools transfer them whatever they compare).
type awscliTree struct {
	local, remote []string // relative paths, sorted
	bucket        string
	prefix        string // "" (the bucket root) or "x/p"
}

// awscliCase is one sync of a tree.
type awscliCase struct {
	download bool
	delete   bool
	rules    []transfer.Rule
}

func (c awscliCase) args() []string {
	var a []string
	if c.delete {
		a = append(a, "--delete")
	}
	for _, r := range c.rules {
		if r.Include {
			a = append(a, "--include", r.Pattern)
		} else {
			a = append(a, "--exclude", r.Pattern)
		}
	}
	return a
}

// TestFilterMatchesAWSCLI runs `aws s3 sync --dryrun` and a dry run of fsxsync's engine on generated trees and
// --include/--exclude lists, uploads and downloads, with and without --delete, and wants the same uploads,
// downloads and deletes from both.
func TestFilterMatchesAWSCLI(t *testing.T) {
	bin := awscli(t)
	seed := awscliSeed(t)
	cases := 80
	if testing.Short() {
		cases = 16
	}
	if v := os.Getenv("FSXSYNC_AWSCLI_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("FSXSYNC_AWSCLI_CASES: %v", err)
		}
		cases = n
	}
	const casesPerTree = 8
	server := srv(t)
	home := t.TempDir()
	// Path-style addressing: the test server has no DNS name per bucket.
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte("[default]\ns3 =\n    addressing_style = path\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LC_ALL=C.UTF-8",
		"AWS_ACCESS_KEY_ID=" + server.AccessKey, "AWS_SECRET_ACCESS_KEY=" + server.SecretKey,
		"AWS_DEFAULT_REGION=" + server.Region, "AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	}
	// Two aws-cli runners at a time, for the test machine's cores.
	runners := make(chan *awscliRunner, 2)
	for range cap(runners) {
		r := startAWSCLI(t, bin, env, server.Endpoint)
		runners <- r
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var stats awscliStats
	start := time.Now()
	for ti := 0; ti*casesPerTree < cases; ti++ {
		tree := genTree(rng)
		store, bucket := newStore(t)
		tree.bucket = bucket
		if ti%2 == 1 {
			tree.prefix = "x/p"
		}
		dir := t.TempDir()
		localRoot := filepath.Join(dir, "local")
		putTree(t, server.Client(), tree, localRoot)
		n := min(casesPerTree, cases-ti*casesPerTree)
		cs := make([]awscliCase, n)
		for i := range cs {
			cs[i] = awscliCase{download: rng.IntN(3) == 0, delete: rng.IntN(4) != 0, rules: genRules(rng, tree)}
		}
		type result struct {
			aws, fsx []string
			err      error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				r := &results[i]
				runner := <-runners
				r.aws, r.err = runner.sync(dir, localRoot, tree, c)
				runners <- runner
				if r.err == nil {
					r.fsx, r.err = runFsxsyncDryRun(store, localRoot, tree, c)
				}
			})
		}
		wg.Wait()
		for i, c := range cs {
			r := results[i]
			if r.err != nil {
				t.Fatalf("seed %d, tree %d, case %d: %v", seed, ti, i, r.err)
			}
			stats.count(tree, c, r.aws)
			if !slices.Equal(r.aws, r.fsx) {
				t.Errorf("seed %d, tree %d, case %d: fsxsync and aws-cli differ\n%s", seed, ti, i, describeCase(tree, c, localRoot, r.aws, r.fsx))
			}
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d cases in %v: %d downloads, %d with --delete, %d where the rules left files out, %d actions, %d absolute patterns",
		cases, time.Since(start).Round(time.Millisecond), stats.downloads, stats.deletes, stats.filtered, stats.actions, stats.abs)
}

// awscliStats counts what the cases exercised, so that a change to the generators that makes them trivial shows.
type awscliStats struct{ downloads, deletes, filtered, actions, abs int }

func (s *awscliStats) count(tr awscliTree, c awscliCase, acts []string) {
	src, dst := tr.local, tr.remote
	if c.download {
		src, dst, s.downloads = dst, src, s.downloads+1
	}
	all := len(src)
	if c.delete {
		s.deletes++
		for _, p := range dst {
			if !slices.Contains(src, p) {
				all++
			}
		}
	}
	if len(acts) < all {
		s.filtered++
	}
	s.actions += len(acts)
	for _, r := range c.rules {
		if strings.HasPrefix(r.Pattern, "/") {
			s.abs++
		}
	}
}

// genTree draws 6 to 14 file paths 0 to 3 directories deep from names of 'a', 'b' and '.', no path a directory
// of another, and shares them out between the two sides.
func genTree(rng *rand.Rand) awscliTree {
	name := func() string {
		for {
			var b strings.Builder
			for range rng.IntN(3) + 1 {
				b.WriteByte("ab."[rng.IntN(3)])
			}
			if s := b.String(); strings.Trim(s, ".") != "" {
				return s
			}
		}
	}
	files := map[string]bool{}
	dirs := map[string]bool{}
	want := rng.IntN(9) + 6
	for tries := 0; len(files) < want && tries < 1000; tries++ {
		parts := make([]string, rng.IntN(4)+1)
		for i := range parts {
			parts[i] = name()
		}
		p := strings.Join(parts, "/")
		ok := !files[p] && !dirs[p]
		for i := 1; i < len(parts) && ok; i++ {
			ok = !files[strings.Join(parts[:i], "/")]
		}
		if !ok {
			continue
		}
		files[p] = true
		for i := 1; i < len(parts); i++ {
			dirs[strings.Join(parts[:i], "/")] = true
		}
	}
	var tr awscliTree
	for _, p := range slices.Sorted(maps.Keys(files)) {
		switch rng.IntN(10) {
		case 0, 1, 2, 3:
			tr.local = append(tr.local, p)
			tr.remote = append(tr.remote, p)
		case 4, 5, 6:
			tr.local = append(tr.local, p)
		default:
			tr.remote = append(tr.remote, p)
		}
	}
	return tr
}

// genRules draws 1 to 4 rules. Half the patterns are a path of the tree with parts turned into wildcards, so that
// they match something; the rest are built from the same letters and wildcards. One in eight is absolute.
func genRules(rng *rand.Rand, tr awscliTree) []transfer.Rule {
	all := append(slices.Clone(tr.local), tr.remote...)
	atoms := []string{"a", "b", ".", "*", "?", "[ab]", "[!a]", "**", "/"}
	pattern := func() string {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			p := all[rng.IntN(len(all))]
			if rng.IntN(3) == 0 {
				p = p[:rng.IntN(len(p)+1)] // a directory, or part of a name
			}
			for i := 0; i < len(p); i++ {
				switch rng.IntN(8) {
				case 0:
					b.WriteString("?")
				case 1:
					b.WriteString("*")
					i += rng.IntN(3)
				case 2:
					b.WriteString("[" + p[i:i+1] + "b]")
				case 3:
					b.WriteString("[!" + p[i:i+1] + "]")
				default:
					b.WriteByte(p[i])
				}
			}
			if rng.IntN(3) == 0 {
				b.WriteString("*")
			}
		} else {
			for range rng.IntN(4) + 1 {
				b.WriteString(atoms[rng.IntN(len(atoms))])
			}
		}
		s := strings.TrimLeft(b.String(), "/")
		if s == "" {
			s = "*"
		}
		// An absolute pattern matches local files by their absolute path, which "/*" starts to match.
		switch rng.IntN(16) {
		case 0:
			s = "/" + s
		case 1:
			s = "/*" + s
		}
		return s
	}
	rules := make([]transfer.Rule, rng.IntN(4)+1)
	for i := range rules {
		rules[i] = transfer.Rule{Include: i > 0 && rng.IntN(2) == 0, Pattern: pattern()}
	}
	return rules
}

// putTree writes the local files and uploads the remote ones, each side's content a different length.
func putTree(t *testing.T, c *s3.Client, tr awscliTree, localRoot string) {
	t.Helper()
	for _, p := range tr.local {
		full := filepath.Join(localRoot, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("local\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(localRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.remote {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(tr.bucket),
			Key: aws.String(objectPath(tr.prefix, p)), Body: strings.NewReader("remote object\n")})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func objectPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "/" + key
}

func (tr awscliTree) url() string {
	return "s3://" + objectPath(tr.bucket, tr.prefix)
}

// awscliRunner runs aws-cli. Most of an aws-cli run is Python starting up and importing botocore (about half a second
// of CPU), so where aws-cli is a Python script the runner starts its interpreter once and has it run aws-cli's entry
// point once per case, as the script would; otherwise (a wrapper, say) it starts aws-cli once per case.
type awscliRunner struct {
	bin      string
	env      []string
	endpoint string
	// In-process mode: the interpreter's stdin takes one JSON request a line; its stdout has each case's output
	// followed by a line awscliDone.
	in  io.Writer
	out *bufio.Reader
}

const awscliDone = "@@fsxsync-awscli-done"

// awscliServe runs requests {"dir": ..., "args": [...]} through aws-cli's entry point (what /usr/bin/aws calls), a
// fresh driver and session each time.
const awscliServe = `import sys, os, json
import awscli.clidriver
for line in sys.stdin:
    req = json.loads(line)
    os.chdir(req["dir"])
    try:
        rc = awscli.clidriver.AWSCLIEntryPoint().main(req["args"])
    except SystemExit as e:
        rc = e.code
    sys.stderr.flush()
    sys.stdout.write("\n%s %s\n" % (DONE, rc))
    sys.stdout.flush()
`

func startAWSCLI(t *testing.T, bin string, env []string, endpoint string) *awscliRunner {
	t.Helper()
	r := &awscliRunner{bin: bin, env: env, endpoint: endpoint}
	head, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(head), "\n")
	if !strings.HasPrefix(line, "#!") || !strings.Contains(line, "python") || !bytes.Contains(head, []byte("awscli.clidriver")) {
		t.Logf("%s is not aws-cli's Python script: one process per case", bin)
		return r
	}
	interp := strings.Fields(line[2:])
	cmd := exec.Command(interp[0], append(interp[1:], "-c", strings.Replace(awscliServe, "DONE", strconv.Quote(awscliDone), 1))...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", interp[0], err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	r.in, r.out = in, bufio.NewReader(out)
	return r
}

// sync runs aws-cli's dry run of a case and returns its actions, sorted, as "upload KEY", "download KEY",
// "delete KEY".
func (r *awscliRunner) sync(dir, localRoot string, tr awscliTree, c awscliCase) ([]string, error) {
	src, dst := localRoot, tr.url()
	if c.download {
		src, dst = dst, src
	}
	args := append([]string{"s3", "sync", "--dryrun", "--endpoint-url", r.endpoint}, c.args()...)
	args = append(args, src, dst)
	if r.in == nil {
		cmd := exec.Command(r.bin, args...)
		cmd.Env = r.env
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("aws %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return parseDryRun(out, dir, localRoot, tr)
	}
	req, err := json.Marshal(map[string]any{"dir": dir, "args": args})
	if err != nil {
		return nil, err
	}
	if _, err := r.in.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("aws-cli interpreter: %w", err)
	}
	var out bytes.Buffer
	for {
		line, err := r.out.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-cli interpreter: %w", err)
		}
		if rc, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), awscliDone+" "); ok {
			if rc != "0" && rc != "None" {
				return nil, fmt.Errorf("aws %s: exit status %s (its stderr is in the test output)", strings.Join(args, " "), rc)
			}
			return parseDryRun(out.Bytes(), dir, localRoot, tr)
		}
		out.WriteString(line)
	}
}

// runFsxsyncDryRun runs the engine's dry run of the same sync and returns its actions as runAWSCLISync does.
func runFsxsyncDryRun(store *s3store.Store, localRoot string, tr awscliTree, c awscliCase) ([]string, error) {
	src, dst := localRoot, tr.url()
	if c.download {
		src, dst = dst, src
	}
	s, err := transfer.ParseLocation(src)
	if err != nil {
		return nil, err
	}
	d, err := transfer.ParseLocation(dst)
	if err != nil {
		return nil, err
	}
	f, err := transfer.NewFilter(c.rules)
	if err != nil {
		return nil, err
	}
	// The engine writes each dry-run line whole, one at a time, whatever Out is.
	var out bytes.Buffer
	_, err = transfer.Run(context.Background(), store, transfer.Options{Src: s, Dst: d, Recursive: true,
		Delete: c.delete, DryRun: true, Filter: f, Concurrency: 4, Out: &out, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	return parseDryRun(out.Bytes(), "", localRoot, tr)
}

// parseDryRun turns "(dryrun) upload: LOCAL to s3://...", "(dryrun) download: s3://... to LOCAL" and
// "(dryrun) delete: s3://... | LOCAL" lines into sorted "ACTION KEY" strings, KEY relative to the roots. Local paths
// relative to dir are made absolute. Directories are left out: aws-cli has no actions for them.
func parseDryRun(out []byte, dir, localRoot string, tr awscliTree) ([]string, error) {
	remoteRoot := tr.url() + "/"
	if tr.prefix == "" {
		remoteRoot = tr.url()
	}
	var acts []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "(dryrun) ")
		if !ok {
			continue
		}
		action, rest, _ := strings.Cut(line, ": ")
		var loc string
		switch action {
		case "upload":
			_, loc, _ = strings.Cut(rest, " to ")
		case "download":
			loc, _, _ = strings.Cut(rest, " to ")
		case "delete":
			loc = rest
		default:
			return nil, fmt.Errorf("unexpected dry-run line %q", sc.Text())
		}
		var key string
		if k, ok := strings.CutPrefix(loc, remoteRoot); ok {
			key = k
		} else {
			if !filepath.IsAbs(loc) {
				loc = filepath.Join(dir, loc)
			}
			rel, err := filepath.Rel(localRoot, loc)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("dry-run line %q: path outside %s", sc.Text(), localRoot)
			}
			key = filepath.ToSlash(rel)
		}
		if strings.HasSuffix(key, "/") || isDir(tr, key) {
			continue
		}
		acts = append(acts, action+" "+key)
	}
	slices.Sort(acts)
	return acts, sc.Err()
}

func isDir(tr awscliTree, key string) bool {
	for _, p := range append(slices.Clone(tr.local), tr.remote...) {
		if strings.HasPrefix(p, key+"/") {
			return true
		}
	}
	return false
}

// describeCase shows a case fully: the command that replays it with aws-cli, both trees and both answers.
func describeCase(tr awscliTree, c awscliCase, localRoot string, awsActs, fsxActs []string) string {
	var b strings.Builder
	src, dst := "LOCAL", tr.url()
	if c.download {
		src, dst = dst, src
	}
	q := make([]string, 0, len(c.args()))
	for _, a := range c.args() {
		q = append(q, strconv.Quote(a))
	}
	fmt.Fprintf(&b, "  aws s3 sync --dryrun --endpoint-url TEST-SERVER %s %s %s   (LOCAL = %s)\n", strings.Join(q, " "), src, dst, localRoot)
	fmt.Fprintf(&b, "  local files:    %q\n  remote objects: %q\n", tr.local, tr.remote)
	fmt.Fprintf(&b, "  aws-cli: %q\n  fsxsync: %q\n", awsActs, fsxActs)
	var only []string
	for _, a := range awsActs {
		if !slices.Contains(fsxActs, a) {
			only = append(only, "aws-cli only: "+a)
		}
	}
	for _, a := range fsxActs {
		if !slices.Contains(awsActs, a) {
			only = append(only, "fsxsync only: "+a)
		}
	}
	b.WriteString("  " + strings.Join(only, "\n  "))
	return b.String()
}
