package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/fsxsync/fsxsync/transfer"
)

// preflightRequest is what the preflight checks, for cp, sync and check alike.
type preflightRequest struct {
	src, dst                   transfer.Location
	recursive, compare, delete bool
}

// runPreflight checks identity and permissions and prints the table (all of it when verbose or when anything
// failed, one line otherwise). It returns the report so the caller can use the bucket's region.
func runPreflight(ctx context.Context, cfg aws.Config, s3c *s3.Client, r preflightRequest, out io.Writer, verbose bool) (*transfer.PreflightReport, error) {
	rep, err := transfer.Preflight(ctx, transfer.PreflightInput{
		Src: r.src, Dst: r.dst, Recursive: r.recursive, Compare: r.compare, Delete: r.delete,
		Credentials: cfg.Credentials, S3: s3c, STS: sts.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg),
	})
	if rep == nil {
		return nil, err
	}
	if verbose || err != nil {
		printPreflight(out, rep)
	} else {
		fmt.Fprintf(out, "preflight: %s passed all %d checks (%.2fs)\n",
			rep.Caller.Identity.ARN, len(rep.Rows), rep.Seconds)
	}
	if de, ok := err.(*transfer.DeniedError); ok && de.Fix != "" {
		fmt.Fprintf(out, "\nHow to fix it:\n%s\n\n", indent(de.Fix, "  "))
	}
	return rep, err
}

func printPreflight(out io.Writer, rep *transfer.PreflightReport) {
	if rep.Caller.Identity.ARN != "" {
		fmt.Fprintf(out, "identity: %s (%s)\n", rep.Caller.Identity.ARN, rep.Caller.Identity.Describe())
		fmt.Fprintf(out, "credentials: %s, key %s\n", rep.Caller.Source, rep.Caller.KeyID)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUIREMENT\tMETHOD\tRESULT\tDETAIL")
	for _, row := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Check, row.Method, row.Result, row.Detail)
	}
	tw.Flush()
	fmt.Fprintf(out, "preflight took %.2fs\n", rep.Seconds)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
