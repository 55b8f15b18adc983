// Command localaws runs a local stand-in for AWS for scripts/demo.sh: a
// versitygw gateway plus its standalone IAM/STS service on 127.0.0.1 (see
// iamtest.Start), with one bucket created, so that fsxsync can run its real
// preflight (STS GetCallerIdentity, bucket checks, probes) instead of being
// told to skip it.
//
//	localaws BUCKET
//
// Once both servers answer and the bucket exists, it prints shell `export`
// lines for the root credentials and the endpoints on stdout, then a line
// READY, and keeps the servers running until it gets SIGTERM or SIGINT, or
// until its stdin is closed when stdin is a pipe or FIFO. Then it stops both
// servers, removes their data and exits 0. Printing first and blocking after
// lets a script read the exports from a file and stop the servers at its end;
// watching stdin means a script that dies without its cleanup still stops the
// servers, since its end of the pipe closes with it.
//
// The versitygw binary is $FSXSYNC_VERSITYGW, else .tools/bin/versitygw
// (`make tools`). Diagnostics go to stderr.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/internal/iamtest"
)

// createTimeout bounds the CreateBucket call; a local gateway answers in
// milliseconds, so hitting it means something is wrong.
const createTimeout = 30 * time.Second

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: localaws BUCKET")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localaws:", err)
		os.Exit(1)
	}
}

func run(bucket string, out io.Writer) error {
	// Registered before the servers start, so a signal that arrives while
	// they start is not lost: it ends the wait below at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	env, err := iamtest.Start()
	if err != nil {
		return err
	}
	// Deferred, so the servers are stopped on every return path, errors
	// included (the children also die with this process: iamtest starts them
	// with a parent-death signal on Linux).
	defer env.Stop()

	createCtx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	if _, err := env.RootS3().CreateBucket(createCtx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("creating bucket %s: %w", bucket, err)
	}

	vars := []struct{ name, value string }{
		{"AWS_ENDPOINT_URL_S3", env.S3Endpoint},
		// GetCallerIdentity and the IAM actions are served by the same
		// endpoint of the IAM service.
		{"AWS_ENDPOINT_URL_STS", env.IAMEndpoint},
		{"AWS_ENDPOINT_URL_IAM", env.IAMEndpoint},
		{"AWS_ACCESS_KEY_ID", env.RootAccess},
		{"AWS_SECRET_ACCESS_KEY", env.RootSecret},
		{"AWS_REGION", env.Region},
		// Keep the machine's own AWS configuration and instance metadata
		// out of whatever runs with these variables.
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{"AWS_CONFIG_FILE", os.DevNull},
		{"AWS_SHARED_CREDENTIALS_FILE", os.DevNull},
	}
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", v.name, shellQuote(v.value))
	}
	// READY comes last, in the same write, so a reader that sees it has
	// every export line.
	b.WriteString("READY\n")
	if _, err := io.WriteString(out, b.String()); err != nil {
		return fmt.Errorf("writing the exports: %w", err)
	}

	select {
	case <-ctx.Done():
	case <-stdinClosed():
	}
	return nil
}

// stdinClosed returns a channel that is closed once stdin reaches EOF, or
// that is never closed when stdin is not a pipe or FIFO. A non-interactive
// shell gives a background job /dev/null as stdin, whose immediate EOF says
// nothing about whether the caller is done.
func stdinClosed() <-chan struct{} {
	done := make(chan struct{})
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return done
	}
	go func() {
		// Whatever is written is ignored; only the end matters. A read
		// error ends the wait too, as there is no one left to listen to.
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	return done
}

// shellQuote quotes s for a POSIX shell, so the export lines can be sourced
// whatever the values hold.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
