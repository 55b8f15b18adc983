package slurm

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// SpotNoticePath is where the EC2 instance metadata service announces a Spot interruption, about two minutes ahead:
// 404 until then, then {"action": "terminate", "time": "..."}.
const SpotNoticePath = "spot/instance-action"

// SpotMetadata is the part of the IMDS client the watcher uses.
type SpotMetadata interface {
	GetMetadata(context.Context, *imds.GetMetadataInput, ...func(*imds.Options)) (*imds.GetMetadataOutput, error)
}

// WatchSpot polls the Spot interruption notice every interval until ctx ends, and calls notice once, with the
// notice's text, when one appears: the caller starts the same clean stop as for SIGTERM, two minutes before the
// instance goes away. Errors (no IMDS, not a Spot instance: 404) just mean "no notice yet".
func WatchSpot(ctx context.Context, c SpotMetadata, interval time.Duration, notice func(string)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		out, err := c.GetMetadata(pctx, &imds.GetMetadataInput{Path: SpotNoticePath})
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(out.Content, 4096))
			out.Content.Close()
			cancel()
			notice(string(b))
			return
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
