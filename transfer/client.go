package transfer

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ClientOptions say how to reach S3. Empty fields fall back to the SDK's default chain: AWS_PROFILE, AWS_REGION,
// AWS_ENDPOINT_URL(_S3), the shared config files, SSO, web identity, and the EC2 instance role through IMDSv2.
type ClientOptions struct {
	Endpoint string // --endpoint-url; also selects path-style addressing
	Region   string
	Profile  string
	// MaxConns sizes the HTTP connection pool: it should cover every request that can be in flight at once
	// (files x parts), or connections are opened and closed on every request.
	MaxConns int
}

// maxAttempts is higher than the SDK's default of 3 because a long batch transfer meets S3's 503 SlowDown and
// connection resets as a matter of course; the exponential backoff (capped at 20 s) keeps retries from storming.
const maxAttempts = 10

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
				so.MaxAttempts = maxAttempts
				// The client-side retry token bucket would turn a burst of throttling across many workers into
				// hard failures ("retry quota exceeded"); backoff alone bounds the retry rate.
				so.RateLimiter = ratelimit.None
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
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		// S3 needs a region to sign requests; us-east-1 answers for every bucket with a redirect hint.
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// NewS3Client builds the one S3 client all workers share.
func NewS3Client(cfg aws.Config, o ClientOptions) *s3.Client {
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		// Parts of multipart objects carry no checksum of their own; fsxsync verifies the whole object instead
		// (see S3Store.Download), so the SDK's note about skipping them is noise in a batch log.
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.Endpoint != "" || cfg.BaseEndpoint != nil {
			// Custom endpoints (on-premises gateways, local test servers) rarely serve virtual-hosted buckets.
			so.UsePathStyle = true
		}
	})
}
