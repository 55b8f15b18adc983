package transfer_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// fakeWithKeys starts gofakes3 (versitygw's posix backend normalises keys such as "a//b") and stores each key with
// its own name as its body, so that a test can tell which key a local file came from.
func fakeWithKeys(t *testing.T, keys ...string) (*s3test.Fake, *s3store.Store, string) {
	t.Helper()
	fake, err := s3test.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	c := fake.Client()
	bucket := fake.NewBucket(t)
	for _, k := range keys {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader(k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	return fake, s3store.New(c, bucket, s3store.Options{}), bucket
}

// regularFiles returns the regular files under root as relative path -> content. Directories are left out: aws-cli
// also leaves behind the empty directories it made on the way to a path it then cleaned ("x/" for "x/../ok2").
func regularFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// keysAWSCLI finds aws-cli: $FSXSYNC_AWSCLI, else Debian's /usr/bin/aws (not a pyenv shim that may be on PATH).
func keysAWSCLI(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FSXSYNC_AWSCLI")
	if bin == "" {
		bin = "/usr/bin/aws"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "aws-cli (set $FSXSYNC_AWSCLI)", err)
	}
	return bin
}

// awsEnv is the environment for aws-cli against the fake: no AWS_* setting of the caller's may leak in. aws-cli
// takes an empty AWS_PROFILE as a profile named "", so the variables are left out rather than set empty.
func awsEnv(fake *s3test.Fake, home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "AWS_ACCESS_KEY_ID="+fake.AccessKey, "AWS_SECRET_ACCESS_KEY="+fake.SecretKey,
		"AWS_REGION="+fake.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
}

// Keys with empty, "." and ".." segments download to the local tree aws-cli makes of them (aws s3 sync and
// aws s3 cp --recursive make the same one): the cleaned path inside the destination, nothing for a key that would
// leave it ("../esc", which aws-cli skips with a warning) or that names a directory ("k/..", "l/.", which aws-cli
// fails to write). A second sync then has nothing to do, where aws-cli downloads those keys again every time.
func TestNonCanonicalKeysMatchAWSCLI(t *testing.T) {
	bin := keysAWSCLI(t)
	keys := []string{"p/plain", "p/x/../ok2", "p/a//b", "p/./c", "p//d", "p/e/./f", "p/g/h/../i", "p/o///p",
		"p/../esc", "p/j/../../esc2", "p/m/../../p/n", "p/k/..", "p/l/."}
	fake, store, bucket := fakeWithKeys(t, keys...)
	parent := t.TempDir()
	for _, sub := range []string{"sync", "cp --recursive"} {
		dir := filepath.Join(parent, "aws-"+strings.Fields(sub)[0])
		args := append([]string{"--endpoint-url", fake.Endpoint, "--no-progress", "s3"}, strings.Fields(sub)...)
		cmd := exec.Command(bin, append(args, "s3://"+bucket+"/p", dir)...)
		cmd.Env = awsEnv(fake, t.TempDir())
		out, err := cmd.CombinedOutput()
		// aws-cli exits 1 for the keys it fails to write ("k/..", "l/."); anything else is a broken setup.
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Fatalf("aws s3 %s: %v\n%s", sub, err, out)
		}
		t.Logf("aws s3 %s:\n%s", sub, out)
	}
	want := regularFiles(t, filepath.Join(parent, "aws-sync"))
	if cp := regularFiles(t, filepath.Join(parent, "aws-cp")); !mapsEqual(cp, want) {
		t.Fatalf("aws s3 sync made %v but aws s3 cp --recursive %v", want, cp)
	}
	if len(want) != 8 {
		t.Fatalf("aws-cli made %d files, want the 8 keys with a clean path inside the destination: %v", len(want), want)
	}

	dst := filepath.Join(parent, "fsxsync")
	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{})
	if err != nil {
		t.Fatal(err)
	}
	if got := regularFiles(t, dst); !mapsEqual(got, want) {
		t.Errorf("fsxsync made\n%v\naws-cli\n%v", got, want)
	}
	var failed []string
	for _, f := range rep.Failures {
		failed = append(failed, f.Key)
	}
	slices.Sort(failed)
	if wantFailed := []string{"../esc", "j/../../esc2", "k/..", "l/.", "m/../../p/n"}; !slices.Equal(failed, wantFailed) {
		t.Errorf("failed keys %q, want %q", failed, wantFailed)
	}
	if rep.Transferred.Files != 8 {
		t.Errorf("transferred %d, want 8", rep.Transferred.Files)
	}
	// Nothing outside the destination.
	if entries, _ := os.ReadDir(parent); len(entries) != 3 {
		t.Errorf("the parent holds %d entries, want aws-sync, aws-cp and fsxsync", len(entries))
	}

	again, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{del: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Transferred.Files != 0 || again.Deleted.Files != 0 {
		t.Errorf("second sync --delete transferred %d and deleted %d, want nothing", again.Transferred.Files, again.Deleted.Files)
	}
	if got := regularFiles(t, dst); !mapsEqual(got, want) {
		t.Errorf("after the second sync: %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// With --delete, the local file at the cleaned path of a key that is not canonical ("ok2" for "x/../ok2") is not an
// orphan: it is compared with that key and overwritten when older, never deleted, although the merge sees it as a
// local file absent from S3, and sees it first ("ok2" sorts before "x/../ok2"). A second run does nothing.
func TestNonCanonicalKeyDeleteKeepsItsPath(t *testing.T) {
	_, store, bucket := fakeWithKeys(t, "p/x/../ok2", "p/keep", "p/d//in")
	dst := t.TempDir()
	old := time.Unix(1600000000, 0)
	writeTree(t, dst, map[string][]byte{"ok2": []byte("old"), "orphan": []byte("gone"), "d/in": []byte("old")}, old)

	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{del: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 0 {
		t.Fatalf("failures: %+v", rep.Failures)
	}
	want := map[string]string{"ok2": "p/x/../ok2", "keep": "p/keep", "d/in": "p/d//in"}
	if got := regularFiles(t, dst); !mapsEqual(got, want) {
		t.Errorf("destination holds %v, want %v", got, want)
	}
	if rep.Transferred.Files != 3 || rep.Deleted.Files != 1 {
		t.Errorf("transferred %d, deleted %d; want 3 and 1 (orphan)", rep.Transferred.Files, rep.Deleted.Files)
	}

	for _, dry := range []bool{true, false} {
		again, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{del: true, dryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if again.Transferred.Files != 0 || again.Deleted.Files != 0 || len(again.Failures) != 0 {
			t.Errorf("second sync (dry run %v) transferred %d, deleted %d, failed %+v; want nothing", dry,
				again.Transferred.Files, again.Deleted.Files, again.Failures)
		}
	}
	if got := regularFiles(t, dst); !mapsEqual(got, want) {
		t.Errorf("after the second sync: %v, want %v", got, want)
	}
}

// Keys that map to one local path, or a file to a path where other keys need a directory, are per-key failures
// naming the other key; the first one in key order (or the canonical one) keeps the path. A key that would leave
// the destination says so.
func TestNonCanonicalKeyCollisions(t *testing.T) {
	_, store, bucket := fakeWithKeys(t,
		"p/a/b", "p/a//b", // a canonical key and one that maps to it
		"p/c/./d", "p/c//d", // two keys that are not canonical, both mapping to c/d
		"p/e", "p/e//h", // a file, and a key that maps below it
		"p/x/../f", "p/f/g", // a key that maps to a file where a canonical key needs a directory
		"p/y/../k", "p/z/../k/l", // the same between two keys that are not canonical
		"p/same", "p/same/../n", // below a file by its letters only: maps to n, no conflict
		"p/../esc",
	)
	dst := t.TempDir()
	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{del: true})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, f := range rep.Failures {
		failed[f.Key] = f.Error
	}
	wantFailed := map[string]string{
		"a//b":     `maps to the same path as key "a/b"`,
		"c//d":     `maps to the same path as key "c/./d"`,
		"e//h":     `below the path of key "e", which is a file`,
		"x/../f":   `which key "f/g" needs as a directory`,
		"z/../k/l": `below the path key "y/../k" maps to, which is a file`,
		"../esc":   "escapes the destination",
	}
	for k, msg := range wantFailed {
		if !strings.Contains(failed[k], msg) {
			t.Errorf("key %q: failure %q, want one saying %q", k, failed[k], msg)
		}
		if strings.Contains(failed[k], "conflict") && msg == "escapes the destination" {
			t.Errorf("key %q: an unsafe key is reported as a conflict: %q", k, failed[k])
		}
	}
	if len(failed) != len(wantFailed) {
		t.Errorf("failures %v, want only %v", failed, wantFailed)
	}
	want := map[string]string{"a/b": "p/a/b", "c/d": "p/c/./d", "e": "p/e", "f/g": "p/f/g", "k": "p/y/../k",
		"same": "p/same", "n": "p/same/../n"}
	if got := regularFiles(t, dst); !mapsEqual(got, want) {
		t.Errorf("destination holds %v, want %v", got, want)
	}
	again, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{del: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Transferred.Files != 0 || again.Deleted.Files != 0 || len(again.Failures) != len(wantFailed) {
		t.Errorf("second sync transferred %d, deleted %d, failed %d; want 0, 0, %d", again.Transferred.Files,
			again.Deleted.Files, len(again.Failures), len(wantFailed))
	}
}
