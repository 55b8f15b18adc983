//go:build linux

package main

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	engine "github.com/fsxsync/fsxsync/transfer" // fsxsync's defaults; "transfer" is this package's own type
)

// transfer is one command to time: which way the data goes, the local directory, and the S3 prefix.
type transfer struct {
	kind     string // "upload", "download" or "noop" (a sync upward, which should find nothing to do)
	file     string // for a one-file case the file's name; "" for a tree
	dir      string // the local side: the source tree, or the directory to download into
	prefix   string // the S3 side: a key prefix in the bench bucket, ending in "/"
	stateDir string // fsxsync's --state-dir
}

func (t transfer) local() string {
	if t.file != "" {
		return filepath.Join(t.dir, t.file)
	}
	return t.dir
}

// url is s3://bench/<prefix>[<file>]; trailing slash kept, which every tool reads as "this folder".
func (t transfer) url() string { return "s3://" + bucket + "/" + t.prefix + t.file }

// srcDst orders a local and a remote argument the way the transfer goes.
func (t transfer) srcDst(local, remote string) []string {
	if t.kind == "download" {
		return []string{remote, local}
	}
	return []string{local, remote}
}

// Which command each tool runs: the no-op row is every tool's sync (local to S3). The transfer rows go into an
// empty destination, where a copy does the same work as a sync, so the peers run their copy command, which is their
// fastest way there: s5cmd 2.3's sync spends about 1.8 ms of CPU a file more than its cp (19 s instead of 6 s for
// 10,000 x 16 KiB), aws-cli's about 15% more, rclone's about 5%. fsxsync runs sync for trees, as its users do, and
// cp for one file.

// variant is one tool in one configuration. Peers are run in their default configuration and in the "32 in
// flight" one the issue's table used, and the faster of the two counts as the peer's figure.
type variant struct {
	tool string
	name string   // "default", or what was changed
	env  []string // added to the common environment
	// args builds the command line for a transfer (args[0] is the program).
	args func(t transfer) []string
}

func (v variant) String() string {
	if v.name == "default" {
		return v.tool
	}
	return v.tool + "/" + v.name
}

// toolPaths says where each program is; an empty path means "not installed".
type toolPaths struct {
	fsxsync, floor, s5cmd, rclone, aws string
}

// allTools is the order of the table's columns and of the runs within a round.
var allTools = []string{"fsxsync", "floor", "floor-mpu", "s5cmd", "rclone", "aws"}

// floors are the yardsticks: floor-mpu differs from floor only on one-file uploads, and runs only there.
var floors = []string{"floor", "floor-mpu"}

// peers are the tools fsxsync is compared with (the floor is not a tool anyone runs).
var peers = []string{"s5cmd", "rclone", "aws"}

// variants returns the configurations of one tool. Every tool gets only what it needs to reach the local server,
// and the workaround for versitygw ignoring "Expect: 100-Continue" with a capital C (aws-sdk-go v1 clients would
// otherwise wait 1 s before each PUT body over 2 MiB): s5cmd's --no-verify-ssl, rclone's
// --expect-continue-timeout 0. aws-cli sends no Expect header that matters here. Over HTTPS s5cmd must verify the
// server, so it runs without --no-verify-ssl and trusts the CA through AWS_CA_BUNDLE; it may then pay the wait on
// the parts of a large upload, and nothing short of turning verification off avoids that in s5cmd 2.3.
func variants(tool string, p toolPaths, srv *server, partSize int64, workDir string) []variant {
	switch tool {
	case "fsxsync":
		// cp for one file, sync for a tree; --no-preflight because the local gateway has no STS for the identity
		// check (the preflight costs 25-40 ms against a full local setup, see docs/performance.md).
		return []variant{{tool: "fsxsync", name: "default", env: srv.caEnv(), args: func(t transfer) []string {
			cmd := "sync"
			if t.file != "" {
				cmd = "cp"
			}
			a := []string{p.fsxsync, cmd}
			a = append(a, t.srcDst(t.local(), strings.TrimSuffix(t.url(), "/"))...)
			return append(a, "--endpoint-url", srv.endpoint, "--state-dir", t.stateDir, "--no-preflight")
		}}}
	case "floor", "floor-mpu":
		// Trees with 32 requests in flight. One large file: the floor sends it in one PutObject (the least any
		// client can do, and over HTTPS an UNSIGNED-PAYLOAD stream the server writes straight to its file), while
		// floor-mpu sends it as fsxsync does by default, a multipart upload of transfer.DefaultPartSize parts with
		// transfer.DefaultPartConcurrency in flight, so that the server's part assembly (CompleteMultipartUpload
		// copies every part into the object) is priced separately and not charged to fsxsync. Ranged GETs of a
		// large download use the same parts and concurrency.
		return []variant{{tool: tool, name: "default", env: srv.caEnv(), args: func(t transfer) []string {
			workers := "32"
			if t.file != "" {
				workers = itoa(engine.DefaultPartConcurrency)
			}
			a := []string{p.floor, "-endpoint", srv.endpoint, "-bucket", bucket, "-mode", t.kind,
				"-dir", t.dir, "-prefix", t.prefix, "-part-size", itoa(partSize), "-workers", workers}
			if tool == "floor" && t.kind == "upload" && t.file != "" {
				a = append(a, "-single-put")
			}
			return a
		}}}
	case "s5cmd":
		s5 := func(name string, extra ...string) variant {
			return variant{tool: "s5cmd", name: name, env: srv.caEnv(), args: func(t transfer) []string {
				a := []string{p.s5cmd, "--endpoint-url", srv.endpoint}
				if srv.tls == nil {
					a = append(a, "--no-verify-ssl") // nothing to verify; see the 100-Continue note above
				}
				a = append(a, extra...)
				switch {
				case t.file != "":
					return append(append(a, "cp"), t.srcDst(t.local(), t.url())...)
				case t.kind == "noop":
					// A source "dir/" means its contents, and a destination ending in "/" is a folder.
					return append(a, "sync", t.dir+"/", t.url())
				}
				// A wildcard source keeps the path below the wildcard, so keys and paths map one to one.
				if t.kind == "download" {
					return append(a, "cp", t.url()+"*", t.dir+"/")
				}
				return append(a, "cp", t.dir+"/*", t.url())
			}}
		}
		return []variant{s5("default"), s5("w32", "--numworkers", "32")}
	case "rclone":
		// The remote is configured entirely from the environment (RCLONE_CONFIG_BENCH_*), with an empty config file.
		conf := filepath.Join(workDir, "rclone.conf")
		os.WriteFile(conf, nil, 0o600)
		env := []string{
			"RCLONE_CONFIG=" + conf,
			"RCLONE_CONFIG_BENCH_TYPE=s3",
			"RCLONE_CONFIG_BENCH_PROVIDER=Other",
			"RCLONE_CONFIG_BENCH_ENV_AUTH=true",
			"RCLONE_CONFIG_BENCH_ENDPOINT=" + srv.endpoint,
			"RCLONE_CONFIG_BENCH_REGION=" + region,
			"RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true",
		}
		rc := func(name string, extra ...string) variant {
			return variant{tool: "rclone", name: name, env: env, args: func(t transfer) []string {
				remote := "bench:" + bucket + "/" + strings.TrimSuffix(t.prefix+t.file, "/")
				cmd := "copy"
				switch {
				case t.file != "":
					cmd = "copyto"
				case t.kind == "noop":
					cmd = "sync"
				}
				a := append([]string{p.rclone, cmd}, t.srcDst(t.local(), remote)...)
				a = append(a, "--expect-continue-timeout", "0")
				if srv.tls != nil {
					// Not AWS_CA_BUNDLE: rclone 1.60 fails outright with it set (see baseEnv).
					a = append(a, "--ca-cert", srv.tls.CAFile)
				}
				return append(a, extra...)
			}}
		}
		return []variant{rc("default"), rc("t32", "--transfers", "32", "--checkers", "32")}
	case "aws":
		// The default configuration has max_concurrent_requests = 10; the other variant raises it through a
		// config file of its own.
		conf := filepath.Join(workDir, "aws-c32.config")
		os.WriteFile(conf, []byte("[default]\ns3 =\n  max_concurrent_requests = 32\n"), 0o600)
		cli := func(name string, env ...string) variant {
			return variant{tool: "aws", name: name, env: env, args: func(t transfer) []string {
				a := []string{p.aws, "s3", "cp"}
				switch {
				case t.kind == "noop":
					a = []string{p.aws, "s3", "sync"}
				case t.file == "":
					a = append(a, "--recursive")
				}
				a = append(a, t.srcDst(t.local(), t.url())...)
				return append(a, "--endpoint-url", srv.endpoint, "--no-progress")
			}}
		}
		return []variant{cli("default", srv.caEnv()...), cli("c32", append(srv.caEnv(), "AWS_CONFIG_FILE="+conf)...)}
	}
	return nil
}

// path returns where a tool's program is, or "" when it is not installed.
func (p toolPaths) path(tool string) string {
	switch tool {
	case "fsxsync":
		return p.fsxsync
	case "floor", "floor-mpu":
		return p.floor
	case "s5cmd":
		return p.s5cmd
	case "rclone":
		return p.rclone
	case "aws":
		return p.aws
	}
	return ""
}

// installed returns path when it names an executable file, else "".
func installed(path string) string {
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return path
}

// version asks a tool for its version and returns the first line of the answer.
func version(tool, bin string) string {
	var args []string
	switch tool {
	case "fsxsync", "aws":
		args = []string{"--version"}
	case "s5cmd", "rclone":
		args = []string{"version"}
	case "versitygw":
		// `versitygw --version` says "git" for `go install` builds; the module version Go recorded is exact.
		out, _ := exec.Command("go", "version", "-m", bin).Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" {
				return "versitygw " + f[2]
			}
		}
		return "versitygw (unknown version)"
	default:
		return ""
	}
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if tool == "s5cmd" {
		line = "s5cmd " + line
	}
	return line
}

// baseEnv is the environment every tool runs with: this process's without any AWS_*, RCLONE_* or FSXSYNC_*
// variable a user's own setup might bring (profiles, config files, session tokens, other endpoints, a CA bundle,
// which rclone 1.60 cannot combine with its own HTTP transport), plus the server's root credentials.
func baseEnv(srv *server) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") && !strings.HasPrefix(kv, "FSXSYNC_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+srv.accessKey,
		"AWS_SECRET_ACCESS_KEY="+srv.secretKey,
		"AWS_REGION="+region,
		"AWS_DEFAULT_REGION="+region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

// prefixDir is where the posix backend keeps the objects under prefix.
func (s *server) prefixDir(prefix string) string {
	return filepath.Join(s.root, bucket, filepath.FromSlash(path.Clean(prefix)))
}
