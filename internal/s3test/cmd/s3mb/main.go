// Command s3mb creates S3 buckets for scripts/demo.sh, which has no other way
// to make one: fsxsync has no "mb" command and curl may be missing.
//
//	s3mb BUCKET...
//
// It talks to $AWS_ENDPOINT_URL with $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY
// and $AWS_REGION (as printed by scripts/versitygw.sh start), using path-style
// addressing. A bucket that already exists and is ours counts as created.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "s3mb:", err)
		os.Exit(1)
	}
}

func run(buckets []string) error {
	if len(buckets) == 0 {
		return errors.New("usage: s3mb BUCKET...")
	}
	env := map[string]string{}
	for _, name := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		env[name] = os.Getenv(name)
		if env[name] == "" {
			return fmt.Errorf("$%s is not set (eval \"$(scripts/versitygw.sh start)\" sets it)", name)
		}
	}
	// Built from the variables alone, so no shared config or profile on the
	// machine changes where the bucket goes.
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL"]),
		Region:       env["AWS_REGION"],
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		UsePathStyle: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, bucket := range buckets {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("creating bucket %s: %w", bucket, err)
		}
	}
	return nil
}
