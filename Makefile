# fsxsync build, test and demo entry points.
#
# The tests run against a real local S3 server, the Versity S3 Gateway, and
# an EC2 instance metadata mock, which `make tools` builds into .tools/bin
# (git-ignored). Every target that needs them depends on `tools`, so
# `make test` works on a fresh checkout.

# The only places the tool versions are pinned.
VERSITYGW_VERSION := v1.8.0
EC2_METADATA_MOCK_VERSION := v1.13.0
STATICCHECK_VERSION := v0.8.2
XTOOLS_VERSION := v0.52.0

TOOLS_BIN := $(CURDIR)/.tools/bin
VERSITYGW := $(TOOLS_BIN)/versitygw
EC2_METADATA_MOCK := $(TOOLS_BIN)/ec2-metadata-mock
FSXSYNC   := $(CURDIR)/bin/fsxsync
STATICCHECK := $(TOOLS_BIN)/staticcheck
DEADCODE  := $(TOOLS_BIN)/deadcode

# Fall back to fixed strings so a tarball or a repository without commits still builds.
VERSION := $(or $(shell git describe --tags --always --dirty 2>/dev/null),dev)
COMMIT  := $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)

# Per-target time for `make fuzz`.
FUZZTIME ?= 10s

# Tests find the tools and the CLI through these variables (see internal/s3test, internal/iamtest).
TEST_ENV := FSXSYNC_VERSITYGW=$(VERSITYGW) FSXSYNC_EC2_METADATA_MOCK=$(EC2_METADATA_MOCK) FSXSYNC_BIN=$(FSXSYNC)

.PHONY: all tools lint-tools lint build test demo bench bench-go bench-compare fuzz clean test-secrets test-race slurm docs

all: build

# Building versitygw takes about 90 s, so only rebuild a tool when its binary
# is missing or was built from another module version. `versitygw --version`
# prints "git" for `go install` builds, so read the version Go recorded in the
# binary instead.
tools:
	@have=$$(go version -m $(VERSITYGW) 2>/dev/null | awk '$$1 == "mod" { print $$3 }'); \
	if [ "$$have" != "$(VERSITYGW_VERSION)" ]; then \
		echo "building versitygw $(VERSITYGW_VERSION) into $(TOOLS_BIN) (takes about 90 s)"; \
		GOBIN=$(TOOLS_BIN) go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION); \
	fi
	@have=$$(go version -m $(EC2_METADATA_MOCK) 2>/dev/null | awk '$$1 == "mod" { print $$3 }'); \
	if [ "$$have" != "$(EC2_METADATA_MOCK_VERSION)" ]; then \
		echo "building ec2-metadata-mock $(EC2_METADATA_MOCK_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) go install github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$(EC2_METADATA_MOCK_VERSION); \
	fi

# The static checkers, pinned like the servers: staticcheck and x/tools' deadcode.
lint-tools:
	@have=$$(go version -m $(STATICCHECK) 2>/dev/null | awk '$$1 == "mod" { print $$3 }'); \
	if [ "$$have" != "$(STATICCHECK_VERSION)" ]; then \
		echo "building staticcheck $(STATICCHECK_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi
	@have=$$(go version -m $(DEADCODE) 2>/dev/null | awk '$$1 == "mod" { print $$3 }'); \
	if [ "$$have" != "$(XTOOLS_VERSION)" ]; then \
		echo "building deadcode $(XTOOLS_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) go install golang.org/x/tools/cmd/deadcode@$(XTOOLS_VERSION); \
	fi

# go vet, staticcheck and deadcode (with the tests as roots: a helper only tests use is alive), all clean. The
# enginesbench tag is checked too, so the tagged benchmark keeps compiling.
lint: lint-tools
	go vet ./...
	go vet -tags enginesbench ./transfer/s3store/
	$(STATICCHECK) ./...
	@out=$$($(DEADCODE) -test ./...); if [ -n "$$out" ]; then echo "$$out"; echo "deadcode: unreachable functions (above)"; exit 1; fi

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(FSXSYNC) ./cmd/fsxsync

test: tools build
	$(TEST_ENV) go test -count=1 -timeout 15m ./...

# The manual (docs/fsxsync.md, docs/fsxsync.1) and the help goldens (cmd/fsxsync/testdata/help) are generated from
# the command definitions. Run this after changing a command, a flag or a help text; `make test` fails until then.
docs:
	go test -count=1 -run '^(TestDocsUpToDate|TestHelpGolden)$$' ./cmd/fsxsync -update

# The engine's concurrent paths under the race detector: a round trip, faults with retries and resets, corruption.
test-race: tools
	$(TEST_ENV) go test -race -count=1 -run 'RoundTrip|Corrupt|Hostile|Faults/(internalerror|reset)|Merge|State|Cleans' ./transfer/

# The whole suite again, verbosely, with a known secret that must appear nowhere in its output.
test-secrets: tools build
	$(TEST_ENV) scripts/check-secrets.sh

demo: tools build
	$(TEST_ENV) scripts/demo.sh

# Benchmarks. `make bench` is both halves: bench-go, the Go benchmarks (the engine against a local versitygw, server
# data and test data on tmpfs; the no-op planning of BENCH_ENTRIES entries; the merge/decide hot path; the listing of
# a flat prefix of 100,000 keys, serial and in ranges, with and without 30 ms a page; the parallel walk on a file
# system with 1 ms per call; key mapping and metadata codec; BENCH_COUNT runs of each give medians,
# `benchstat` reads the output), then bench-compare, fsxsync side by side with the raw-SDK floor and the peers.
BENCH_TMP ?= $(shell [ -d /dev/shm ] && echo /dev/shm || echo /tmp)
BENCH_ENTRIES ?= 1000000
BENCH_COUNT ?= 3
bench: bench-go bench-compare

bench-go: tools build
	TMPDIR=$(BENCH_TMP) FSXSYNC_BENCH_ENTRIES=$(BENCH_ENTRIES) $(TEST_ENV) go test -run '^$$' \
		-bench 'PlanNoop|OneGiB|SmallFiles10k|MiB1000|MergeDecide' -benchtime 2x -count $(BENCH_COUNT) -timeout 60m ./transfer/
	TMPDIR=$(BENCH_TMP) $(TEST_ENV) go test -run '^$$' -bench 'ListFlat' -benchtime 3x -count $(BENCH_COUNT) \
		-timeout 60m ./transfer/
	$(TEST_ENV) go test -run '^$$' -bench 'WalkLatency/10k' -benchtime 1x ./fsx/
	go test -run '^$$' -bench 'LocalPath|KeyOf|EncodeMeta|DecodeMeta' -count $(BENCH_COUNT) ./fsx/

# Issue 8's side-by-side table: fsxsync, the raw-SDK floor (scripts/bench/floor) and the peers (s5cmd, rclone,
# aws-cli v2, installed at pinned versions by scripts/bench/install-peers.sh; apt needs root, a peer that is
# missing is reported, not fatal) against one versitygw pinned to CPU 0, tools pinned to CPU 1, data on tmpfs.
# About 15 minutes per mode; BENCH_CASES / BENCH_TOOLS take comma-separated subsets. BENCH_MODE=https serves TLS
# with a throwaway CA every tool trusts (as real S3 is reached), both runs HTTP then HTTPS. See scripts/bench/README.md.
BENCH_MODE ?= http
BENCH_RUNS ?= 3
BENCH_CASES ?=
BENCH_TOOLS ?=
BENCH_OUT ?= $(CURDIR)/bench-out
bench-compare: tools build
	bash scripts/bench/install-peers.sh
	TMPDIR=$(BENCH_TMP) $(TEST_ENV) go run ./scripts/bench/compare -mode $(BENCH_MODE) -runs $(BENCH_RUNS) \
		-cases '$(BENCH_CASES)' -tools '$(BENCH_TOOLS)' -out $(BENCH_OUT)

# Every fuzz target, one at a time (Go fuzzes one target per `go test` run);
# see scripts/fuzz.sh, which also tells Go 1.26's fuzztime race from a finding.
fuzz: tools
	$(TEST_ENV) scripts/fuzz.sh $(FUZZTIME)

# Debian's Slurm (slurmctld, slurmd, clients) and MUNGE, at the versions pinned
# in scripts/slurm/install.sh, for internal/slurmtest's single-node clusters.
# Needs root (`sudo make slurm`); starts no system service. Without them the
# Slurm tests skip outside CI and fail in CI (.ci/run installs them).
slurm:
	bash scripts/slurm/install.sh

# Keeps .tools: rebuilding the gateway is slow. `rm -rf .tools` to drop it too.
clean:
	rm -rf bin
