package iamtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fsxsync/fsxsync/internal/s3test"
)

// MockEnv names the environment variable that overrides where the
// ec2-metadata-mock binary is found.
const MockEnv = "FSXSYNC_EC2_METADATA_MOCK"

const (
	// InstanceID is the instance id the IMDS reports; EC2 names an instance
	// role's STS session after it.
	InstanceID = "i-0f5a1c2e3d4b6a789"
	// IMDSRegion is the region the IMDS reports (placement/region and the
	// instance identity document).
	IMDSRegion = s3test.Region
	// AccountID is the account of the instance profile ARN the IMDS reports;
	// it is versitygw IAM's account, the one in every ARN it mints.
	AccountID = "000000000000"

	// credentialLifetime is how far in the future the served credentials
	// expire. The SDK refreshes instance-role credentials at most an hour
	// ahead anyway; past expirations would make it re-fetch on every call.
	credentialLifetime = 6 * time.Hour
	// quietDelay keeps the mock's interruption notices (spot instance-action
	// and termination-time, rebalance recommendation, scheduled events,
	// ASG termination) answering 404, as on an instance nobody is about to
	// stop: started without it, the mock serves a spot "terminate" notice at
	// once.
	quietDelay = 365 * 24 * time.Hour
)

// IMDS is an ec2-metadata-mock serving one set of instance-role credentials.
type IMDS struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT; the SDK's IMDS client
	// takes it from $AWS_EC2_METADATA_SERVICE_ENDPOINT (see Env).
	Endpoint string
	// RoleName is the role whose credentials are served, at
	// /latest/meta-data/iam/security-credentials/RoleName.
	RoleName string
	// Dir holds the mock's configuration (Dir/aemm-config.json) and log
	// (Dir/ec2-metadata-mock.log). Stop removes it.
	Dir string

	proc     *process
	stopOnce sync.Once
}

// StartIMDS serves role roleName with the given keys and no session token
// (versitygw IAM users have none; the SDK takes an empty token), instance id
// InstanceID and region IMDSRegion, on a free 127.0.0.1 port, IMDSv1 and v2.
// No interruption notice is served. A missing binary is an error that says to
// run `make tools`.
func StartIMDS(roleName, accessKey, secretKey string) (*IMDS, error) {
	return startIMDS(roleName, accessKey, secretKey, 0, IMDSRegion)
}

// StartIMDSInRegion is StartIMDS for an instance in region: what placement/region and the instance identity
// document say.
func StartIMDSInRegion(region, roleName, accessKey, secretKey string) (*IMDS, error) {
	return startIMDS(roleName, accessKey, secretKey, 0, region)
}

// StartIMDSWithSpotNotice is StartIMDS plus a Spot interruption notice ("terminate") served at
// /latest/meta-data/spot/instance-action from spotAfter after the start (404 before).
func StartIMDSWithSpotNotice(roleName, accessKey, secretKey string, spotAfter time.Duration) (*IMDS, error) {
	return startIMDS(roleName, accessKey, secretKey, max(spotAfter, time.Second), IMDSRegion)
}

func startIMDS(roleName, accessKey, secretKey string, spotAfter time.Duration, region string) (*IMDS, error) {
	bin, err := s3test.Tool("ec2-metadata-mock", MockEnv)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fsxsync-imds-")
	if err != nil {
		return nil, fmt.Errorf("iamtest: %w", err)
	}
	m := &IMDS{RoleName: roleName, Dir: dir}
	if err := m.start(bin, accessKey, secretKey, spotAfter, region); err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

func (m *IMDS) start(bin, accessKey, secretKey string, spotAfter time.Duration, region string) error {
	now := time.Now().UTC()
	// Values override the mock's defaults key by key; the mock rewrites the
	// security-credentials path for the new role name itself.
	cfg := map[string]any{
		"metadata": map[string]any{
			"values": map[string]any{
				"instance-id":                   InstanceID,
				"placement-region":              region,
				"placement-availability-zone":   region + "a",
				"iam-security-credentials-role": m.RoleName,
				"iam-security-credentials": map[string]any{
					"Code":            "Success",
					"LastUpdated":     now.Format(time.RFC3339),
					"Type":            "AWS-HMAC",
					"AccessKeyId":     accessKey,
					"SecretAccessKey": secretKey,
					"Token":           "",
					"Expiration":      now.Add(credentialLifetime).Format(time.RFC3339),
				},
				"iam-info": map[string]any{
					"Code":               "Success",
					"LastUpdated":        now.Format(time.RFC3339),
					"InstanceProfileArn": "arn:aws:iam::" + AccountID + ":instance-profile/" + m.RoleName,
					"InstanceProfileId":  "AIPAFSXSYNCTEST0000000",
				},
			},
		},
		"dynamic": map[string]any{
			"values": map[string]any{
				"instance-identity-document": map[string]any{
					"accountId":        AccountID,
					"instanceId":       InstanceID,
					"region":           region,
					"availabilityZone": region + "a",
				},
			},
		},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("iamtest: %w", err)
	}
	cfgPath := filepath.Join(m.Dir, "aemm-config.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return fmt.Errorf("iamtest: %w", err)
	}

	delay := strconv.Itoa(int(quietDelay.Seconds()))
	args := []string{
		// An explicit config file, so $HOME/aemm-config.json is not read.
		"--config-file", cfgPath,
		"--hostname", "127.0.0.1",
		"--port", "0",
		"--mock-delay-sec", delay,
		"--rebalance-delay-sec", delay,
		"--asg-termination-delay-sec", delay,
	}
	if spotAfter > 0 {
		// The spot subcommand serves only the interruption notice (and the metadata), from the given delay on.
		args = append([]string{"spot", "--action", "terminate"}, args...)
		for i := range args {
			if args[i] == "--mock-delay-sec" {
				args[i+1] = strconv.Itoa(int(spotAfter.Seconds()))
			}
		}
	}
	ready := func(baseURL string) bool {
		return answers200(baseURL + "/latest/meta-data/instance-id")
	}
	// The mock also reads AEMM_* variables; the caller's must not change it.
	env := environWithout("AEMM_")
	proc, baseURL, err := startProcess("ec2-metadata-mock", bin, args, env, filepath.Join(m.Dir, "ec2-metadata-mock.log"), ready)
	if err != nil {
		return err
	}
	m.proc, m.Endpoint = proc, baseURL
	return nil
}

// Stop kills the mock and removes its directory. It is safe to call more
// than once.
func (m *IMDS) Stop() {
	m.stopOnce.Do(func() {
		if m.proc != nil {
			m.proc.kill()
		}
		os.RemoveAll(m.Dir)
	})
}

// Env returns the variables that make the AWS SDK take credentials from this IMDS and nothing else:
// the IMDS endpoint, IMDS enabled, and every other source of credentials in
// the default chain (environment keys, profiles and config files, container
// credentials, web identity) emptied, which the SDK treats as unset. It sets
// no region and no S3 endpoint. Append it to os.Environ() after any other
// AWS variables: for os/exec the last value of a key wins.
func (m *IMDS) Env() []string {
	return []string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + m.Endpoint,
		"AWS_EC2_METADATA_DISABLED=false",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=",
		"AWS_EC2_METADATA_V1_DISABLED=",
		"AWS_ACCESS_KEY_ID=",
		"AWS_SECRET_ACCESS_KEY=",
		"AWS_ACCESS_KEY=", // the SDK's legacy spellings
		"AWS_SECRET_KEY=",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_DEFAULT_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN=",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=",
		"AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_ROLE_ARN=",
		"AWS_ROLE_SESSION_NAME=",
	}
}
