package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/fsxsync/fsxsync/transfer"
)

// ClientOptions say how to reach S3. Empty fields fall back to the SDK's default chain: AWS_PROFILE, AWS_REGION,
// AWS_ENDPOINT_URL(_S3), the shared config files, SSO, web identity, and the EC2 instance role through IMDSv2.
type ClientOptions struct {
	Endpoint string // --endpoint-url
	// AddressingStyle is --addressing-style: "auto" (or ""), "path" or "virtual"; see PathStyle.
	AddressingStyle string
	// Bucket is the bucket the client is for, when known: directory buckets and access point ARNs are never
	// addressed path-style in auto mode.
	Bucket  string
	Region  string
	Profile string
	// MaxConns sizes the HTTP connection pool: it should cover every request that can be in flight at once
	// (files x parts), or connections are opened and closed on every request.
	MaxConns int
	// Stats, when set, counts the client's requests and retries (for the report).
	Stats *RequestStats
	// RequestPayer confirms on every request that the caller pays for it (--request-payer requester): a Requester
	// Pays bucket refuses every request of another account that does not say so.
	RequestPayer bool
}

// RequestStats counts S3 operations and their attempts; the difference is the number of retries (503 SlowDown,
// 500s, connection resets) the SDK made.
type RequestStats struct {
	ops, attempts atomic.Int64
}

// Ops is the number of operations started.
func (s *RequestStats) Ops() int64 { return s.ops.Load() }

// Attempts is the number of tries all operations made, first tries included.
func (s *RequestStats) Attempts() int64 { return s.attempts.Load() }

// Retries is the number of attempts beyond the first, over all operations.
func (s *RequestStats) Retries() int64 {
	if s == nil {
		return 0
	}
	return s.attempts.Load() - s.ops.Load()
}

// addStats counts each operation once (Initialize step) and each attempt (Finalize step, after the retry loop
// begins, so it runs once per try).
func (s *RequestStats) addStats(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fsxsyncCountOps",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.ops.Add(1)
			return next.HandleInitialize(ctx, in)
		}), middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("fsxsyncCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			s.attempts.Add(1)
			return next.HandleFinalize(ctx, in)
		}), "Retry", middleware.After)
}

// MaxAttempts is higher than the SDK's default of 3 because a long batch transfer meets S3's 503 SlowDown and
// connection resets as a matter of course; the exponential backoff (capped at 20 s) keeps retries from storming.
const MaxAttempts = 10

// startRetries is how many retries of a request that got no answer at all (refused, no route, no such host) a client
// makes, in all, while its endpoint has never answered: one, as STS gets. An endpoint that cannot be reached at the
// start (a wrong --endpoint-url, no route, nothing listening) is then said within a second instead of after ten
// attempts with backoff (about 25 s). Once the endpoint has answered anything, an outage in the middle of a run gets
// every attempt again, and answers such as 500 or 503 are retried as always.
const startRetries = 1

// untilReached is the retryer of a client whose endpoint may not be there: until it has answered once (reached), the
// client has startRetries retries in all for requests that got no answer.
type untilReached struct {
	aws.Retryer
	reached *atomic.Bool
	spent   *atomic.Int32
}

// IsErrorRetryable is the wrapped retryer's decision, but for requests that got no answer before the endpoint ever
// did, which share the startRetries budget.
func (r untilReached) IsErrorRetryable(err error) bool {
	var noAnswer *smithyhttp.RequestSendError
	if !r.reached.Load() && errors.As(err, &noAnswer) && r.spent.Add(1) > startRetries {
		return false
	}
	return r.Retryer.IsErrorRetryable(err)
}

// markReached records the first HTTP answer of any status: the endpoint is there. A request that got no answer still
// carries an empty response (status 0), which smithy puts there so that nothing needs a nil check.
func markReached(reached *atomic.Bool) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("fsxsyncReached",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				// Every request passes here: read before writing, so that the workers do not all write one shared word.
				if !reached.Load() {
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil && resp.Response != nil && resp.StatusCode > 0 {
						reached.Store(true)
					}
				}
				return out, md, err
			}), middleware.After)
	}
}

// LoadConfig resolves credentials and region through the SDK's default chain with fsxsync's retry and HTTP settings.
func LoadConfig(ctx context.Context, o ClientOptions) (aws.Config, error) {
	conns := max(o.MaxConns, 64)
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = conns
		t.MaxIdleConnsPerHost = conns
		t.IdleConnTimeout = 90 * time.Second
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = MaxAttempts
				// The client-side retry token bucket would turn a burst of throttling across many workers into
				// hard failures ("retry quota exceeded"); backoff alone bounds the retry rate.
				so.RateLimiter = ratelimit.None
				so.Retryables = append(so.Retryables, retry.IsErrorRetryableFunc(retryable))
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", Classify(err))
	}
	if cfg.Credentials != nil {
		cfg.Credentials = aws.NewCredentialsCache(credentialsProvider{cfg.Credentials})
	}
	if cfg.Region == "" {
		// On EC2 the instance's own region is the likeliest home of its buckets (and the one its VPC endpoints
		// serve); elsewhere S3 still needs a region to sign requests, and us-east-1 answers for every bucket with
		// its region, which the caller then moves to (BucketRegion).
		cfg.Region = instanceRegion(ctx, cfg)
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
	}
	return cfg, nil
}

// NewClient builds the one S3 client all workers share.
func NewClient(cfg aws.Config, o ClientOptions) *s3.Client {
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		// Parts of multipart objects carry no checksum of their own; fsxsync verifies the whole object instead
		// (see Store.Download), so the SDK's note about skipping them is noise in a batch log.
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.Stats != nil {
			so.APIOptions = append(so.APIOptions, o.Stats.addStats)
		}
		if o.RequestPayer {
			so.APIOptions = append(so.APIOptions, requesterPays)
		}
		reached := &atomic.Bool{}
		so.Retryer = untilReached{Retryer: so.Retryer, reached: reached, spent: &atomic.Int32{}}
		so.APIOptions = append(so.APIOptions, markReached(reached), fastListOption)
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		endpoint := o.Endpoint
		if endpoint == "" && cfg.BaseEndpoint != nil {
			endpoint = *cfg.BaseEndpoint
		}
		so.UsePathStyle = PathStyle(o.AddressingStyle, endpoint, o.Bucket)
	})
}

// The addressing styles of --addressing-style, as aws-cli's s3.addressing_style setting names them.
const (
	AddressingAuto    = "auto"
	AddressingPath    = "path"
	AddressingVirtual = "virtual"
)

// ParseAddressingStyle checks --addressing-style.
func ParseAddressingStyle(v string) (string, error) {
	switch v {
	case "", AddressingAuto:
		return AddressingAuto, nil
	case AddressingPath, AddressingVirtual:
		return v, nil
	}
	return "", transfer.Usagef("--addressing-style %q: give auto, path or virtual", v)
}

// PathStyle says whether requests put the bucket in the path (https://host/bucket/key) rather than in the host name
// (https://bucket.host/key). "path" and "virtual" say so outright. In auto mode AWS's own endpoints (the SDK's
// defaults, and endpoint URLs under amazonaws.com: VPC interface endpoints, FIPS) get virtual-hosted addressing, as
// AWS recommends and as directory buckets and access points require; any other endpoint URL (an on-premises
// gateway, a local test server, an IP address) gets path-style, which such servers serve and a bucket name in front
// of their host name would not resolve. A directory bucket or an access point ARN is never put in the path in auto
// mode: S3 does not accept it, and the SDK picks path-style itself for an endpoint that is an IP address.
func PathStyle(style, endpoint, bucket string) bool {
	switch style {
	case AddressingPath:
		return true
	case AddressingVirtual:
		return false
	}
	if endpoint == "" || IsDirectoryBucket(bucket) || strings.HasPrefix(bucket, "arn:") {
		return false
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return true
	}
	host := strings.ToLower(u.Hostname())
	return !strings.HasSuffix(host, ".amazonaws.com") && !strings.HasSuffix(host, ".amazonaws.com.cn")
}

// IsDirectoryBucket reports whether bucket is named as S3 directory buckets (S3 Express One Zone) are:
// BASE--ZONE-ID--x-s3 ("Directory bucket naming rules", S3 User Guide). Their listings come in no particular order.
func IsDirectoryBucket(bucket string) bool {
	base, ok := strings.CutSuffix(bucket, "--x-s3")
	if !ok {
		return false
	}
	i := strings.LastIndex(base, "--")
	return i > 0 && i+2 < len(base)
}

// MetadataTimeout bounds each question to the instance metadata service (the region here, an instance role's name
// in the preflight): it answers in milliseconds on
// EC2, and off EC2 nothing answers at all.
const MetadataTimeout = time.Second

// instanceRegion is the region the instance metadata service names (the instance identity document's), or "" off EC2, when IMDS is
// disabled (AWS_EC2_METADATA_DISABLED) or does not answer within MetadataTimeout.
func instanceRegion(ctx context.Context, cfg aws.Config) string {
	c := imds.NewFromConfig(cfg, func(o *imds.Options) { o.Retryer = aws.NopRetryer{} })
	ictx, cancel := context.WithTimeout(ctx, MetadataTimeout)
	defer cancel()
	out, err := c.GetRegion(ictx, &imds.GetRegionInput{})
	if err != nil {
		return ""
	}
	return out.Region
}

// HeadBucketTimeout bounds a HeadBucket asked before a transfer (BucketRegion's, the preflight's), retries
// included: it is the first request to S3, and an endpoint that does not answer must be said in seconds.
const HeadBucketTimeout = 5 * time.Second

// BucketRegion asks S3 which region bucket is in: HeadBucket names it in x-amz-bucket-region whether it succeeds or
// answers 301 (another region) or 403 (S3 API Reference: HeadBucket). "" when S3 did not say.
func BucketRegion(ctx context.Context, c *s3.Client, bucket string) string {
	hctx, cancel := context.WithTimeout(ctx, HeadBucketTimeout)
	defer cancel()
	out, err := c.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, func(o *s3.Options) { o.RetryMaxAttempts = 2 })
	if err == nil {
		return aws.ToString(out.BucketRegion)
	}
	return ResponseHeader(err, "X-Amz-Bucket-Region")
}

// requesterPays adds x-amz-request-payer: requester to every request before it is signed, whatever the operation:
// the header is what a Requester Pays bucket asks of every request from another account (S3 User Guide,
// "Downloading objects from Requester Pays buckets").
func requesterPays(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("fsxsyncRequestPayer",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				req.Header.Set("x-amz-request-payer", "requester")
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}
