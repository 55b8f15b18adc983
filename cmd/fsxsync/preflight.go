package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/preflight"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// preflightRequest is what the preflight checks, for cp, sync and check alike.
type preflightRequest struct {
	src, dst                   transfer.Location
	recursive, compare, delete bool
	requireIdentity            bool
	// requestPayer is --request-payer requester, for the preflight's advice.
	requestPayer bool
	// encryption is what uploads ask for (--sse): the probes ask for it too, and its KMS key is proven.
	encryption s3store.Encryption
	// strict makes a requirement left not checked fatal (fsxsync check always, transfers with --strict).
	strict bool
	// restoreArchived is --restore-archived on a download that is not a dry run: s3:RestoreObject is required.
	restoreArchived bool
}

// preflightOutput says where the preflight reports: the whole table to out when verbose (fsxsync check) or when
// anything failed, else one line through log; with json, records through log instead of text.
type preflightOutput struct {
	out     io.Writer
	log     *slog.Logger
	json    bool
	verbose bool
}

// runPreflight checks identity and permissions and reports them. It returns the report so the caller can use the
// bucket's region.
func runPreflight(ctx context.Context, cfg aws.Config, s3c *s3.Client, r preflightRequest, po preflightOutput) (*preflight.Report, error) {
	rep, err := preflight.Run(ctx, preflight.Input{
		Src: r.src, Dst: r.dst, Recursive: r.recursive, Compare: r.compare, Delete: r.delete,
		Region: cfg.Region, RequestPayer: r.requestPayer, Encryption: r.encryption, Caller: callerInput(cfg, r.requireIdentity), S3: s3c, IAM: iam.NewFromConfig(cfg),
		RestoreArchived: r.restoreArchived,
	})
	var moved *preflight.RegionError
	if rep == nil || errors.As(err, &moved) {
		// Nothing was proven in the wrong region: the caller moves there and asks again, which is what gets said.
		return rep, err
	}
	if rep.Caller.Warning != "" {
		po.log.Warn(rep.Caller.Warning)
	}
	unproven := rep.Unproven()
	if err == nil && len(unproven) > 0 && r.strict {
		err = &preflight.UnprovenError{Principal: rep.Caller.Principal(), Rows: unproven}
	}
	var de *preflight.DeniedError
	errors.As(err, &de)
	switch {
	case po.json:
		level, msg := slog.LevelInfo, "preflight passed"
		switch {
		case err != nil:
			level, msg = slog.LevelError, "preflight failed"
		case len(unproven) > 0:
			level, msg = slog.LevelWarn, "preflight incomplete"
		}
		attrs := []any{"principal", rep.Caller.Identity.ARN, "verified", !rep.Caller.Unverified, "checks", len(rep.Rows),
			"proven", rep.Proven(), "not_checked", len(unproven), "seconds", rep.Seconds}
		if err != nil || po.verbose || len(unproven) > 0 {
			attrs = append(attrs, "rows", preflightRows(rep.Rows))
		}
		if de != nil && de.Fix != "" {
			attrs = append(attrs, "fix", de.Fix)
		}
		po.log.Log(ctx, level, msg, attrs...)
		return rep, err
	case po.verbose || err != nil:
		printPreflight(po.out, rep)
	case len(unproven) > 0:
		po.log.Warn(fmt.Sprintf("preflight: %s: %d proven, %d not checked (%.2fs): %s; the transfer goes on, and the S3 answers will "+
			"tell (--strict stops here instead)", rep.Caller.Principal(), rep.Proven(), len(unproven), rep.Seconds, describeRows(unproven)))
	default:
		po.log.Info(fmt.Sprintf("preflight: %s passed all %d checks (%.2fs)", rep.Caller.Principal(), len(rep.Rows), rep.Seconds))
	}
	if de != nil && de.Fix != "" {
		fmt.Fprintf(po.out, "\nHow to fix it:\n%s\n\n", indent(de.Fix, "  "))
	}
	return rep, err
}

// preflightRow is one row of the table as a JSON log attribute.
type preflightRow struct {
	Check  string `json:"check"`
	Method string `json:"method"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

func preflightRows(rows []preflight.Row) []preflightRow {
	out := make([]preflightRow, len(rows))
	for i, r := range rows {
		out[i] = preflightRow{Check: r.Check, Method: r.Method, Result: r.Result.String(), Detail: r.Detail}
	}
	return out
}

func printPreflight(out io.Writer, rep *preflight.Report) {
	if rep.Caller.Identity.ARN != "" {
		fmt.Fprintf(out, "identity: %s (%s)\n", rep.Caller.Principal(), rep.Caller.Identity.Describe())
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

// callerInput is how every command finds out who it runs as: the credentials and STS of cfg and, for when STS cannot
// be asked, the instance metadata service of cfg (AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED).
func callerInput(cfg aws.Config, requireIdentity bool) preflight.CallerInput {
	stsClient := sts.NewFromConfig(cfg)
	return preflight.CallerInput{Credentials: cfg.Credentials, STS: stsClient, STSEndpoint: preflight.STSEndpoint(stsClient),
		Metadata: imds.NewFromConfig(cfg), RequireIdentity: requireIdentity}
}

// describeRows names rows in one line: each check and why it was not decided.
func describeRows(rows []preflight.Row) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = r.Check + " (" + r.Detail + ")"
	}
	return strings.Join(parts, "; ")
}
