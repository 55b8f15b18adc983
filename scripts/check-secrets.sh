#!/usr/bin/env bash
# Run the whole test suite with a known root secret for every test server, verbosely (testscript then logs every
# command's stdout and stderr, so all of fsxsync's output, errors and reports pass through), and fail if that secret
# appears anywhere in the output, or in a report or log file a test left in the temp dir.
#
# usage: scripts/check-secrets.sh        (from `make test-secrets`; needs the tools `make tools` builds)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secret=$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n')
log=$(mktemp "${TMPDIR:-/tmp}/fsxsync-secrets.XXXXXX.log")
trap 'rm -f "$log"' EXIT
status=0
# The load test has already run in make test; a small one is enough to see its output here.
FSXSYNC_LOAD_FILES=2000 FSXSYNC_TEST_ROOT_SECRET=$secret go test -count=1 -v -timeout 15m ./cmd/... ./transfer/ >"$log" 2>&1 || status=$?
if ((status != 0)); then
	# A test's own messages come just before its "--- FAIL" line in -v output: show them, not only the verdicts.
	grep -E -B12 -- "--- FAIL|panic:" "$log" | grep -vE -- "^=== (RUN|PAUSE|CONT)" | head -60 >&2
	tail -30 "$log" >&2
	echo "check-secrets: the test suite failed (exit $status)" >&2
	exit 1
fi
lines=$(wc -l <"$log")
# testscript -v lists each script's environment before running it, the secret included: that is the harness
# showing what it was given, not fsxsync's output, so exactly those lines are left out of the search.
filtered=$(grep -vxE "        AWS_SECRET_ACCESS_KEY=$secret" "$log" || true)
if grep -qF "$secret" <<<"$filtered"; then
	grep -nF "$secret" <<<"$filtered" | sed "s/$secret/<SECRET>/g" | head -20 >&2
	echo "check-secrets: the root secret appears in the test output" >&2
	exit 1
fi
echo "check-secrets: the root secret appears nowhere in $lines lines of verbose test output"
