#!/usr/bin/env bash
# End-to-end demo of fsxsync against a local S3 server (run it with `make demo`).
#
# Starts a throwaway versitygw on 127.0.0.1, makes a sample tree, uploads it
# with `fsxsync sync`, downloads it into another directory, syncs the upload
# again (nothing should transfer), and checks that the downloaded tree is
# byte-for-byte the original. Everything it starts or creates is removed on
# exit, whether it succeeds or not.
#
# Needs bin/fsxsync (`make build`, or $FSXSYNC_BIN) and versitygw (`make tools`,
# or $FSXSYNC_VERSITYGW).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

fsxsync=${FSXSYNC_BIN:-$repo_root/bin/fsxsync}
[[ -x $fsxsync ]] || { echo "demo: $fsxsync not found: run 'make build'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fsxsync-demo.XXXXXX")
cleanup() {
	if [[ -n ${VGW_PID:-} ]]; then
		scripts/versitygw.sh stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() {
	printf '\n== %s\n' "$*"
}

step "starting versitygw"
eval "$(scripts/versitygw.sh start)"
echo "endpoint $AWS_ENDPOINT_URL"
# The credentials come from the environment set above; keep the machine's own
# AWS configuration and instance metadata out of the demo.
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
# Keep the sync state (see README, "Change detection") inside the demo's own directory.
export FSXSYNC_STATE_DIR=$work/state
# This gateway runs without its IAM/STS service, so there is no GetCallerIdentity to answer the permission
# preflight; the tests run the preflight against a gateway that has one (internal/iamtest).
preflight=--no-preflight

step "creating bucket demo"
go build -o "$work/s3mb" ./internal/s3test/cmd/s3mb
"$work/s3mb" demo

step "making a sample tree"
src=$work/src
dst=$work/dst
mkdir -p "$src/notes/deep/nested" "$src/data" "$src/docs" "$src/empty-dir" "$dst"
echo "fsxsync demo" >"$src/README.txt"
printf 'one\ntwo\nthree\n' >"$src/notes/todo.txt"
echo "a leaf three levels down" >"$src/notes/deep/nested/leaf.txt"
echo "spaces and unicode in the name" >"$src/docs/résumé final (v2).txt"
: >"$src/empty-file"
# Large enough to be uploaded in several parts.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$src/data/random-20MiB.bin"
(cd "$src" && find . | sort)

step "upload: fsxsync sync $src s3://demo/sample"
"$fsxsync" sync "$src" s3://demo/sample --endpoint-url "$AWS_ENDPOINT_URL" $preflight

step "download: fsxsync sync s3://demo/sample $dst"
"$fsxsync" sync s3://demo/sample "$dst" --endpoint-url "$AWS_ENDPOINT_URL" $preflight

step "upload again: nothing should be transferred"
"$fsxsync" sync "$src" s3://demo/sample --endpoint-url "$AWS_ENDPOINT_URL" $preflight | tee "$work/again.txt"
grep -q '^transferred 0 files' "$work/again.txt" || { echo "demo: the second sync transferred files" >&2; exit 1; }

step "verifying"
# diff -r compares names, types (an empty directory too) and contents.
diff -r "$src" "$dst"
# An independent check of the bytes, with a stable file order.
checksums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
if ! cmp -s <(checksums "$src") <(checksums "$dst"); then
	diff <(checksums "$src") <(checksums "$dst") >&2 || true
	echo "demo: sha256 sums differ" >&2
	exit 1
fi
checksums "$dst"

echo
echo "demo OK"
