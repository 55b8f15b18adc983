package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/preflight"
	"github.com/fsxsync/fsxsync/transfer/s3store"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// whoamiOptions are the parsed flags of whoami.
type whoamiOptions struct {
	json bool
	// requireIdentity fails the command when STS cannot be asked, instead of showing what else is known.
	requireIdentity bool
	client          s3store.ClientOptions
	environ         func(string) string
	stdout          io.Writer
}

func whoamiCommand() *cli.Command {
	return &cli.Command{
		Name:  "whoami",
		Usage: "show which AWS identity fsxsync runs as, where its credentials come from, and where it runs",
		Description: `Resolves credentials the way every fsxsync command does (environment, shared config profile, SSO,
web identity, container, EC2 instance role through IMDSv2), asks STS who they belong to, and says
what kind of identity that is. Where STS cannot be reached (a subnet with no STS endpoint) it waits
at most 2 s, then shows the instance role the instance metadata service names, marked not verified,
and still exits 0; --require-identity makes that exit 4. On a ParallelCluster head or login node it
warns that jobs run with their queue's role: test that one from inside a job with
'srun fsxsync check SRC DST'.

EXAMPLES:
   fsxsync whoami

   # The identity a job on queue compute has
   srun -p compute fsxsync whoami

   # The role's ARN, for a policy
   fsxsync whoami --json | jq -r .arn

` + exitCodes,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			requireIdentityFlag(),
		}, networkFlags()...),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return transfer.Usagef("whoami takes no arguments (got %q)", c.Args().First())
			}
			return runWhoami(c, whoamiOptions{json: c.Bool("json"), requireIdentity: c.Bool("require-identity"), environ: os.Getenv, stdout: c.App.Writer,
				client: s3store.ClientOptions{Region: c.String("region"), Profile: c.String("profile")}})
		},
	}
}

// whoamiResult is what whoami prints; its JSON form is stable for scripts.
type whoamiResult struct {
	ARN     string `json:"arn"`
	Account string `json:"account"`
	UserID  string `json:"user_id"`
	Kind    string `json:"kind"`
	// Verified is false when STS could not be asked: the identity is then what the credentials' source says.
	Verified         bool               `json:"verified"`
	Description      string             `json:"description"`
	Identity         preflight.Identity `json:"identity"`
	CredentialSource string             `json:"credential_source"`
	AccessKeyID      string             `json:"access_key_id_masked"`
	Temporary        bool               `json:"temporary"`
	Expires          *time.Time         `json:"expires,omitempty"`
	Slurm            *slurm.Job         `json:"slurm,omitempty"`
	Warnings         []string           `json:"warnings"`
	FileSystem       string             `json:"file_system,omitempty"`
}

func runWhoami(c *cli.Context, o whoamiOptions) error {
	ctx := c.Context
	cfg, err := s3store.LoadConfig(ctx, o.client)
	if err != nil {
		return &preflight.CredentialsError{Err: err}
	}
	caller, err := preflight.ResolveCaller(ctx, callerInput(cfg, o.requireIdentity))
	if err != nil {
		return err
	}
	job := slurm.JobFromEnv(o.environ)
	if job != nil && job.Partition != "" {
		caller.Identity = caller.Identity.MatchQueue(job.Partition)
	}
	res := whoamiResult{ARN: caller.Identity.ARN, Account: caller.Identity.Account, UserID: caller.Identity.UserID,
		Kind: string(caller.Identity.Kind), Description: caller.Identity.Describe(), Identity: caller.Identity,
		CredentialSource: caller.Source, AccessKeyID: caller.KeyID, Temporary: caller.Temporary, Slurm: job,
		Verified: !caller.Unverified, Warnings: preflight.WhereWarnings(caller.Identity, job)}
	if caller.Warning != "" {
		res.Warnings = append([]string{caller.Warning}, res.Warnings...)
	}
	if !caller.Expires.IsZero() {
		res.Expires = &caller.Expires
	}
	if wd, err := os.Getwd(); err == nil {
		if m, err := fsx.FindMount(wd); err == nil {
			res.FileSystem = m.Describe() + " (holds the current directory)"
		}
	}
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	w := o.stdout
	fmt.Fprintf(w, "identity:     %s\n", res.Description)
	fmt.Fprintf(w, "arn:          %s\n", res.ARN)
	fmt.Fprintf(w, "account:      %s\n", res.Account)
	fmt.Fprintf(w, "user id:      %s\n", res.UserID)
	kind := "long-term"
	if res.Temporary {
		kind = "temporary"
	}
	fmt.Fprintf(w, "credentials:  %s, %s key %s", res.CredentialSource, kind, res.AccessKeyID)
	if res.Expires != nil {
		fmt.Fprintf(w, ", expires %s (in %s)", res.Expires.Format(time.RFC3339), time.Until(*res.Expires).Round(time.Minute))
	}
	fmt.Fprintln(w)
	if job != nil {
		fmt.Fprintf(w, "slurm:        %s\n", job.Describe())
	} else {
		fmt.Fprintln(w, "slurm:        not in a Slurm job")
	}
	if res.FileSystem != "" {
		fmt.Fprintf(w, "file system:  %s\n", res.FileSystem)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning:      %s\n", warn)
	}
	return nil
}
