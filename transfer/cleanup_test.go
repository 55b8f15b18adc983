package transfer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// What a kill -9 leaves (temp files in a download destination, multipart uploads left open) is removed by the next
// run of the same sync and counted; another shard's leftovers are not touched.
func TestNextRunCleansUpLeftovers(t *testing.T) {
	store, bucket := newStore(t)
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string][]byte{"a.bin": randBytes(100), "sub/b.bin": randBytes(100)}, time.Unix(1700000000, 0))
	runSync(t, store, src, "s3://"+bucket+"/c", runCfg{})

	// A killed download left temp files behind.
	for _, p := range []string{filepath.Join(dst, "a.bin"), filepath.Join(dst, "sub", "b.bin")} {
		f, err := fsx.CreateTemp(p)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("half")
		f.Close()
	}
	rep := runSync(t, store, "s3://"+bucket+"/c", dst, runCfg{})
	if rep.CleanedUp != 2 || !strings.Contains(rep.Summary(), "cleaned up 2") {
		t.Errorf("cleaned up %d, want 2 (%s)", rep.CleanedUp, rep.Summary())
	}
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && fsx.IsTemp(d.Name()) {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})

	// A killed upload left multipart uploads open: one for a key of this shard, one for another shard's key.
	c := srv(t).Client()
	mine, theirs := "", ""
	shard := slurm.Shard{Index: 0, Count: 2}
	for i := 0; mine == "" || theirs == ""; i++ {
		k := "k" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if shard.Owns(k) && mine == "" {
			mine = k
		} else if !shard.Owns(k) && theirs == "" {
			theirs = k
		}
	}
	for _, k := range []string{mine, theirs} {
		if _, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("c/" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // upload times have whole-second precision
	s, _ := transfer.ParseLocation(src)
	d, _ := transfer.ParseLocation("s3://" + bucket + "/c")
	rep, err := transfer.Run(context.Background(), store, transfer.Options{Src: s, Dst: d, Recursive: true, Shard: shard})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CleanedUp != 1 {
		t.Errorf("cleaned up %d uploads, want 1", rep.CleanedUp)
	}
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "c/"+theirs {
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		t.Errorf("open uploads %v, want only the other shard's c/%s", keys, theirs)
	}
}
