package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// credentialTimeout bounds the search for credentials: with nothing configured and no instance metadata service,
// the SDK would otherwise spend 4 to 5 seconds on IMDS retries before saying so.
const credentialTimeout = 2 * time.Second

// stsTimeout bounds the question to STS, and stsAttempts allows one retry within it. AWS's own ParallelCluster set-up
// "in a single subnet with no internet access" has no STS endpoint: there the SDK's default (a 30 s connect timeout,
// ten attempts) would keep every run waiting for minutes on a question the transfer does not need answered.
const (
	stsTimeout  = 2 * time.Second
	stsAttempts = 2
)

// Caller is who the preflight found.
type Caller struct {
	Identity Identity
	// Source says where the credentials came from, in plain words; KeyID is the access key id, masked.
	Source, KeyID string
	Temporary     bool
	Expires       time.Time // zero when the credentials do not expire
	// Unverified is set when STS could not be asked: Identity is then what the credentials' source says (for an EC2
	// instance role, the role and account the instance metadata service names), or empty, and Warning says why in
	// one line. The S3 probes prove the permissions either way.
	Unverified bool
	Warning    string
}

// Principal names the caller in a sentence: its ARN, with what is known of it when STS could not confirm it.
func (c Caller) Principal() string {
	switch {
	case c.Identity.ARN == "":
		return "the caller (" + c.Source + " credentials, not known to STS here)"
	case c.Unverified:
		return c.Identity.ARN + " (not verified by STS)"
	}
	return c.Identity.ARN
}

// InstanceMetadata is the part of the IMDS client that names an instance role when STS cannot be asked.
type InstanceMetadata interface {
	GetMetadata(context.Context, *imds.GetMetadataInput, ...func(*imds.Options)) (*imds.GetMetadataOutput, error)
}

// CallerInput is what ResolveCaller works from.
type CallerInput struct {
	// Credentials are the credentials the transfer will use.
	Credentials aws.CredentialsProvider
	STS         STS
	// STSEndpoint names the endpoint STS is asked at, for the warning when it does not answer (see STSEndpoint).
	STSEndpoint string
	// Metadata is the instance metadata service, asked for the instance role's name and account when STS cannot be
	// asked and the credentials are the instance role's; nil leaves the identity empty then.
	Metadata InstanceMetadata
	// RequireIdentity makes an STS that cannot be asked fatal (--require-identity), for sites that want every run's
	// identity confirmed.
	RequireIdentity bool
}

// CredentialsError means there is no usable identity: no credentials, or credentials STS rejects. Exit code 4.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string { return e.Err.Error() }
func (e *CredentialsError) Unwrap() error { return e.Err }

// Kind makes a CredentialsError transfer.KindCredentials, whatever it wraps.
func (e *CredentialsError) Kind() transfer.Kind { return transfer.KindCredentials }

// STSEndpoint returns the endpoint c sends to: the one configured (AWS_ENDPOINT_URL_STS, a profile's endpoint_url),
// else the regional endpoint the SDK resolves for the client's region.
func STSEndpoint(c *sts.Client) string {
	o := c.Options()
	if o.BaseEndpoint != nil {
		return *o.BaseEndpoint
	}
	region := o.Region
	ep, err := sts.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), sts.EndpointParameters{Region: &region})
	if err != nil {
		return "the STS endpoint of " + region
	}
	return ep.URI.String()
}

// ResolveCaller finds the credentials (bounded in time) and asks STS who they belong to (bounded too). Credentials
// that cannot be found, or that STS rejects, are a *CredentialsError. An STS that cannot be asked (no route, refused,
// no answer, an error of its own) is not: the caller is then Unverified, with what the credentials' source knows.
func ResolveCaller(ctx context.Context, in CallerInput) (Caller, error) {
	var c Caller
	cctx, cancel := context.WithTimeout(ctx, credentialTimeout)
	defer cancel()
	v, err := in.Credentials.Retrieve(cctx)
	if err != nil {
		if ctx.Err() != nil {
			return c, ctx.Err()
		}
		if cctx.Err() != nil {
			return c, &CredentialsError{fmt.Errorf("no AWS credentials found within %v: none in the environment (AWS_ACCESS_KEY_ID), "+
				"the shared config files (AWS_PROFILE, ~/.aws), SSO, web identity or container settings, and no EC2 instance "+
				"role answered at the instance metadata service; on a laptop run `aws configure` or `aws sso login`", credentialTimeout)}
		}
		return c, &CredentialsError{fmt.Errorf("no usable AWS credentials: %w", err)}
	}
	c.Source = CredentialSource(v.Source)
	c.KeyID, c.Temporary = MaskKeyID(v.AccessKeyID)
	if v.CanExpire {
		c.Expires = v.Expires
	}
	sctx, cancel2 := context.WithTimeout(ctx, stsTimeout)
	defer cancel2()
	out, err := in.STS.GetCallerIdentity(sctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) { o.RetryMaxAttempts = stsAttempts })
	switch {
	case err == nil:
		id, err := ParseIdentity(aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId))
		if err != nil {
			return c, &CredentialsError{err}
		}
		c.Identity = id
		return c, nil
	case ctx.Err() != nil:
		return c, ctx.Err()
	case transfer.KindOf(s3store.Classify(err)) == transfer.KindCredentials:
		// STS answered, and said no: these credentials are not usable anywhere.
		return c, &CredentialsError{fmt.Errorf("STS GetCallerIdentity with %s credentials (%s) failed, so they are not usable: %w", c.Source, c.KeyID, err)}
	}
	why := fmt.Sprintf("STS at %s could not be asked who these credentials are (%s)", in.STSEndpoint, briefSTS(err, sctx))
	if in.RequireIdentity {
		return c, &CredentialsError{fmt.Errorf("%s, and --require-identity was given", why)}
	}
	c.Unverified = true
	if strings.HasPrefix(v.Source, ec2rolecreds.ProviderName) && in.Metadata != nil {
		id, merr := instanceRole(ctx, in.Metadata)
		if merr == nil {
			c.Identity = id
			c.Warning = why + "; the identity is the instance role the instance metadata service names, not verified; " +
				"the S3 probes still prove every permission"
			return c, nil
		}
		why += fmt.Sprintf("; the instance metadata service did not name the role either (%s)", transfer.Brief(merr))
	}
	c.Warning = why + "; the identity is not known, and the S3 probes still prove every permission"
	return c, nil
}

// briefSTS says in a few words why STS did not answer: the time it was given, the network's words (a refused
// connection, an unknown host) without the SDK's chain around them, or STS's own error.
func briefSTS(err error, sctx context.Context) string {
	var unreachable *s3store.UnreachableError
	switch {
	case sctx.Err() != nil:
		return fmt.Sprintf("no answer within %v", stsTimeout)
	case errors.As(s3store.Classify(err), &unreachable):
		return unreachable.Why
	}
	return transfer.Brief(err)
}

// instanceRole builds the identity of an EC2 instance role from the instance metadata service, as STS would give it
// (arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/INSTANCE-ID): the role from iam/security-credentials/, the partition
// and account from iam/info's InstanceProfileArn, the session name from instance-id.
func instanceRole(ctx context.Context, md InstanceMetadata) (Identity, error) {
	roles, err := metadata(ctx, md, "iam/security-credentials/")
	if err != nil {
		return Identity{}, err
	}
	role, _, _ := strings.Cut(roles, "\n")
	raw, err := metadata(ctx, md, "iam/info")
	if err != nil {
		return Identity{}, err
	}
	var info struct{ InstanceProfileArn string }
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return Identity{}, fmt.Errorf("iam/info: %w", err)
	}
	// arn:PARTITION:iam::ACCOUNT:instance-profile/NAME
	parts := strings.SplitN(info.InstanceProfileArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !isAccountID(parts[4]) {
		return Identity{}, fmt.Errorf("iam/info: InstanceProfileArn %q is not an instance profile's ARN", info.InstanceProfileArn)
	}
	instanceID, err := metadata(ctx, md, "instance-id")
	if err != nil {
		return Identity{}, err
	}
	arn := fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", parts[1], parts[4], strings.TrimSpace(role), instanceID)
	return ParseIdentity(arn, parts[4], "")
}

// metadata reads one IMDS path, bounded in time and size.
func metadata(ctx context.Context, md InstanceMetadata, path string) (string, error) {
	mctx, cancel := context.WithTimeout(ctx, s3store.MetadataTimeout)
	defer cancel()
	out, err := md.GetMetadata(mctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("IMDS %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64<<10))
	if err != nil {
		return "", fmt.Errorf("IMDS %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
