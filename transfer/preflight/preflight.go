// Package preflight proves, before the first byte moves, who the caller is and that it holds every permission the
// transfer needs: identity.go reads the caller's ARN (whoami), requirements.go derives the (action, resource) pairs
// from the transfer, and Run checks each by IAM's policy simulator where it may and by probes that touch no user
// data, returning a Report of rows with typed verdicts and, when something is missing, a DeniedError with the fix.
// Every error it returns carries the engine's kind (transfer.KindOf).
package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// The preflight proves, before the first byte of user data moves, that the caller has an identity and every
// permission the transfer needs. It derives the (action, resource) pairs from the transfer (Requirements), asks IAM's
// policy simulator where the caller may use it, and probes S3 with requests that touch no user data: a one-key
// listing, a one-byte read of an existing object, an abort of a multipart upload that does not exist, a multipart
// upload started and aborted, a delete of a key that does not exist. Probes see what simulation cannot: bucket
// policies, KMS key policies, SCPs, and servers without IAM.

// S3 is the part of the S3 API the preflight uses.
type S3 interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	RestoreObject(context.Context, *s3.RestoreObjectInput, ...func(*s3.Options)) (*s3.RestoreObjectOutput, error)
	CreateSession(context.Context, *s3.CreateSessionInput, ...func(*s3.Options)) (*s3.CreateSessionOutput, error)
}

// STS resolves the caller.
type STS interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// IAM runs the policy simulator.
type IAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// Input is the transfer to check and the clients to check it with.
type Input struct {
	Src, Dst  transfer.Location
	Recursive bool
	Compare   bool // sync (compares, so reads metadata) rather than cp
	Delete    bool
	// RestoreArchived is --restore-archived: a download asks S3 to restore the archived objects it meets.
	RestoreArchived bool
	// Region is the region the S3 client signs for. When the bucket says it is elsewhere, Run stops at once with a
	// *RegionError, before any probe: probes sent to the wrong region prove nothing.
	Region string
	// RequestPayer says the requests confirm payment (--request-payer requester); without it, a bucket that refuses
	// everything gets a hint that it may be a Requester Pays bucket.
	RequestPayer bool
	// Encryption is what uploads ask for (--sse, --sse-kms-key-id, --bucket-key). The probes that create objects or
	// uploads send it too, so that a bucket policy requiring it lets them through and the KMS key they prove is the
	// uploads' own.
	Encryption s3store.Encryption
	// Caller says how to find out who the caller is: credentials, STS, and what to fall back on without STS.
	Caller CallerInput
	S3     S3
	IAM    IAM // nil: no simulation
}

// Row is one line of the preflight table.
type Row struct {
	Check  string  // what was checked: an action on a resource, or a local condition
	Method string  // simulated, probed, simulated+probed, local, -
	Result Verdict // what was found
	Detail string  // the server's words, or why it was not checked
	// Required marks a row the transfer depends on (a permission, the free space): one left NotChecked is unproven.
	// The other rows are facts found on the way (the file system, the bucket's region, the simulator's availability).
	Required bool
}

// Failed reports whether this row stops the transfer.
func (r Row) Failed() bool { return r.Result == Denied || r.Result == Failed }

// Verdict is a row's result.
type Verdict int

// The verdicts. Allowed and Denied answer a permission; OK and Failed a local condition or a fact about the bucket;
// NotChecked and NotAvailable say that nothing was proved either way.
const (
	NotChecked Verdict = iota
	Allowed
	Denied
	OK
	Failed
	NotAvailable
)

var verdictNames = [...]string{"not checked", "allowed", "DENIED", "ok", "FAILED", "not available"}

// String is the verdict as the table prints it.
func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// Report is everything the preflight found.
type Report struct {
	Caller  Caller
	Mount   *fsx.Mount // the file system holding the local side, when it could be found
	Region  string     // the bucket's region when the server said so
	KMSKey  string
	Rows    []Row
	Denied  []Denial
	Seconds float64
}

// Unproven returns the required rows that were neither proven nor refused: what the preflight could not decide.
func (r *Report) Unproven() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Required && row.Result == NotChecked {
			out = append(out, row)
		}
	}
	return out
}

// Proven counts the required rows that were proven: permissions allowed, local conditions met.
func (r *Report) Proven() int {
	n := 0
	for _, row := range r.Rows {
		if row.Required && (row.Result == Allowed || row.Result == OK) {
			n++
		}
	}
	return n
}

// UnprovenError is the preflight's verdict when it could not decide every requirement and the caller asked for
// proof (fsxsync check, or --strict): nothing was refused, but not everything was shown to be allowed.
type UnprovenError struct {
	Principal string
	Rows      []Row
}

func (e *UnprovenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not proven: %d %s could not be checked for %s: ", len(e.Rows), plural(len(e.Rows), "requirement", "requirements"), e.Principal)
	for i, r := range e.Rows {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", r.Check, r.Detail)
	}
	return b.String()
}

// Kind makes an UnprovenError transfer.KindUnproven.
func (e *UnprovenError) Kind() transfer.Kind { return transfer.KindUnproven }

// RegionError says the bucket is in another region than the one requests are signed for. The caller moves its
// clients there and runs the preflight again; left unhandled it is bad input (exit 2).
type RegionError struct {
	Bucket, Region, Signed string
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("bucket %s is in %s, not %s: give --region %s", e.Bucket, e.Region, e.Signed, e.Region)
}

// Kind makes a RegionError transfer.KindUsage.
func (e *RegionError) Kind() transfer.Kind { return transfer.KindUsage }

// Denial is one requirement the caller does not have.
type Denial struct {
	Requirement
	Method  string
	Message string
}

// DeniedError is the preflight's verdict when a permission is missing. The CLI maps it to exit code 3.
type DeniedError struct {
	Principal string
	Denials   []Denial
	Fix       string
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "access denied: %s may not ", e.Principal)
	for i, d := range e.Denials {
		if i > 0 {
			b.WriteString("; nor ")
		}
		fmt.Fprintf(&b, "%s on %s", d.Action, d.Resource)
		if d.Prefix != "" {
			fmt.Fprintf(&b, " (prefix %q)", d.Prefix)
		}
		if d.Message != "" {
			fmt.Fprintf(&b, " [%s: %s]", d.Method, d.Message)
		}
	}
	b.WriteString(". Nothing was transferred.")
	return b.String()
}

// Kind makes a DeniedError transfer.KindDenied.
func (e *DeniedError) Kind() transfer.Kind { return transfer.KindDenied }

// Run runs every check and returns the report; the error is a *CredentialsError, a *DeniedError, a
// *transfer.UsageError (no such bucket, missing source, unwritable destination), or the context's.
func Run(ctx context.Context, in Input) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	defer func() { rep.Seconds = time.Since(start).Seconds() }()
	dir, err := transfer.DirectionOf(in.Src, in.Dst)
	if err != nil {
		return rep, err
	}
	remote, local := in.Dst, in.Src.Local
	if dir == transfer.Download {
		remote, local = in.Src, in.Dst.Local
	}
	if err := checkLocal(rep, dir, local, in.Recursive); err != nil {
		return rep, err
	}
	if m, err := fsx.FindMount(local); err == nil {
		rep.Mount = &m
		rep.Rows = append(rep.Rows, Row{Check: "local file system", Method: "local", Result: OK, Detail: m.Describe()})
	}
	rep.Caller, err = ResolveCaller(ctx, in.Caller)
	if err != nil {
		return rep, err
	}
	if err := checkBucket(ctx, rep, in.S3, remote.Bucket); err != nil {
		return rep, err
	}
	if rep.Region != "" && in.Region != "" && rep.Region != in.Region {
		return rep, &RegionError{Bucket: remote.Bucket, Region: rep.Region, Signed: in.Region}
	}
	prefix := remote.DirPrefix()
	if !in.Recursive {
		prefix = remote.Key
		if dir == transfer.Upload && (prefix == "" || strings.HasSuffix(prefix, "/")) {
			prefix += filepath.Base(local)
		}
	}
	reqs := Requirements(RequirementsInput{Partition: rep.Caller.Identity.Partition, Bucket: remote.Bucket, Prefix: prefix,
		Upload: dir == transfer.Upload, Recursive: in.Recursive, Compare: in.Compare, Delete: in.Delete, KMSKeyARN: rep.KMSKey,
		Encryption: in.Encryption, Restore: in.RestoreArchived, Region: in.Region, Account: rep.Caller.Identity.Account})

	sim := simulate(ctx, in.IAM, rep.Caller.Identity, reqs)
	pr := &prober{s3: in.S3, bucket: remote.Bucket, prefix: prefix, recursive: in.Recursive, upload: dir == transfer.Upload,
		probeKey: probeKey(prefix, in.Recursive), enc: in.Encryption}
	kmsDenied := map[string]*kmsDenial{} // by kms: action, from the S3 probes that met the key's refusal
	for _, req := range reqs {
		row := Row{Check: describeRequirement(req), Result: NotChecked, Method: "-", Required: true}
		simRes, simOK := sim[req.Action+" "+req.Resource]
		probeRes := pr.probe(ctx, req)
		if d := kmsDenied[req.Action]; d != nil && !probeRes.done {
			// A KMS permission has no probe of its own: an S3 probe that needed the key met its refusal.
			probeRes = probeResult{done: true, allowed: false, detail: d.message}
		}
		if probeRes.kms != nil {
			kmsDenied[probeRes.kms.action] = probeRes.kms
		}
		switch {
		case probeRes.done && simOK:
			row.Method = "simulated+probed"
		case probeRes.done:
			row.Method = "probed"
		case simOK:
			row.Method = "simulated"
		}
		// A probe is the last word: it goes through every policy (bucket, KMS key, SCP) that the simulator of
		// identity policies cannot see.
		switch {
		case probeRes.done:
			row.Result, row.Detail = verdict(probeRes.allowed), probeRes.detail
		case simOK:
			row.Result, row.Detail = verdict(simRes.allowed), simRes.detail
		default:
			row.Detail = probeRes.detail
		}
		if row.Result == Denied {
			rep.Denied = append(rep.Denied, Denial{Requirement: req, Method: row.Method, Message: row.Detail})
		}
		rep.Rows = append(rep.Rows, row)
		if errors.Is(probeRes.err, context.Canceled) {
			return rep, probeRes.err
		}
	}
	for _, action := range slices.Sorted(maps.Keys(kmsDenied)) {
		if d := kmsDenied[action]; !slices.ContainsFunc(reqs, func(r Requirement) bool { return r.Action == action }) {
			// The key was not known (GetBucketEncryption not allowed), so no row asked for it: S3 named it.
			key := d.key
			if key == "" {
				key = "the bucket's KMS key"
			}
			req := Requirement{Action: action, Resource: key, Why: "S3 uses the bucket's KMS key for this transfer"}
			rep.Rows = append(rep.Rows, Row{Check: describeRequirement(req), Method: "probed", Result: Denied, Detail: d.message, Required: true})
			rep.Denied = append(rep.Denied, Denial{Requirement: req, Method: "probed", Message: d.message})
		}
	}
	for _, left := range pr.leftovers {
		rep.Rows = append(rep.Rows, Row{Check: "probe left nothing behind", Method: "probed", Result: Failed, Required: true,
			Detail: left})
	}
	if sim == nil && in.IAM != nil {
		rep.Rows = append(rep.Rows, Row{Check: "iam:SimulatePrincipalPolicy", Method: "-", Result: NotAvailable,
			Detail: "the policy simulator is not available to this identity or server (usual on compute nodes); probes decided"})
	}
	if dir == transfer.Download && in.Recursive && len(rep.Denied) == 0 {
		if err := checkSpace(ctx, rep, in.S3, remote.Bucket, prefix, local, freeSpace); err != nil {
			return rep, err
		}
	}
	if len(rep.Denied) > 0 {
		var missing []Requirement
		for _, d := range rep.Denied {
			missing = append(missing, d.Requirement)
		}
		fix := FixAdvice(rep.Caller.Identity, missing)
		if !in.RequestPayer && allS3Refused(rep.Rows) {
			// A Requester Pays bucket refuses every request of another account that does not confirm payment, with
			// a plain AccessDenied (S3 User Guide, "Requester Pays buckets"): nothing else tells it apart.
			fix += fmt.Sprintf("\nEvery S3 request was refused. If s3://%s is a Requester Pays bucket of another account, it refuses\n"+
				"every request that does not confirm payment: add --request-payer requester (you pay for the transfer).\n", remote.Bucket)
		}
		if dir == transfer.Upload && in.Encryption.Algorithm == "" && uploadRefusedByProbe(rep.Denied) {
			// A bucket policy that denies s3:PutObject without x-amz-server-side-encryption (S3 User Guide, "Using
			// server-side encryption with AWS KMS keys (SSE-KMS)": requiring SSE-KMS for all objects written to a
			// bucket) refuses the upload probe like a missing permission; S3's answer may say "explicit deny in a
			// resource-based policy", or only "Access Denied" to another account.
			fix += fmt.Sprintf("\nIf s3://%s has a bucket policy that refuses uploads without server-side encryption,\n"+
				"give the encryption it asks for: --sse AES256, or --sse aws:kms with --sse-kms-key-id KEY (the policy\n"+
				"names the key).\n", remote.Bucket)
		}
		return rep, &DeniedError{Principal: rep.Caller.Principal(), Denials: rep.Denied, Fix: fix}
	}
	return rep, nil
}

func verdict(allowed bool) Verdict {
	if allowed {
		return Allowed
	}
	return Denied
}

func describeRequirement(r Requirement) string {
	s := r.Action + " on " + r.Resource
	if r.Prefix != "" {
		s += " (prefix " + r.Prefix + ")"
	}
	return s
}

// checkLocal: the source must be readable, the destination's nearest existing directory writable.
func checkLocal(rep *Report, dir transfer.Direction, local string, recursive bool) error {
	if dir == transfer.Upload {
		// The type first: an open of a FIFO blocks until a writer comes, which may be never, and a device is no data.
		// A tree's root may be a link to a directory; a single file is copied as itself, a link as a link.
		stat := os.Stat
		if !recursive {
			stat = os.Lstat
		}
		if fi, err := stat(local); err == nil && fsx.IsSpecial(fi.Mode()) {
			what := "not a regular file: fsxsync never reads FIFOs, sockets or devices"
			if recursive {
				what = "not a directory"
			}
			detail := fmt.Sprintf("%s is a %s, %s", local, fsx.TypeName(fi.Mode()), what)
			rep.Rows = append(rep.Rows, Row{Check: "local source readable", Method: "local", Result: Failed, Required: true, Detail: detail})
			return transfer.Usagef("source %s", detail)
		}
		// O_NONBLOCK, so that a path replaced by a FIFO since the check above cannot block the open either.
		f, err := os.OpenFile(local, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			rep.Rows = append(rep.Rows, Row{Check: "local source readable", Method: "local", Result: Failed, Required: true, Detail: err.Error()})
			return transfer.Usagef("source %s: %v", local, errors.Unwrap(err))
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			if _, err := f.Readdirnames(1); err != nil && err != io.EOF {
				rep.Rows = append(rep.Rows, Row{Check: "local source readable", Method: "local", Result: Failed, Required: true, Detail: err.Error()})
				return transfer.Usagef("source %s is not readable: %v", local, err)
			}
		}
		rep.Rows = append(rep.Rows, Row{Check: "local source readable: " + local, Method: "local", Result: OK, Required: true})
		return nil
	}
	target := local
	if !recursive {
		target = filepath.Dir(local)
		if fi, err := os.Stat(local); err == nil && fi.IsDir() {
			target = local
		}
	}
	existing := nearestExisting(target)
	f, err := fsx.CreateTemp(filepath.Join(existing, "probe"))
	if err != nil {
		rep.Rows = append(rep.Rows, Row{Check: "local destination writable: " + existing, Method: "local", Result: Failed, Required: true, Detail: err.Error()})
		return transfer.Usagef("destination %s is not writable: %v", existing, err)
	}
	fsx.Discard(f)
	rep.Rows = append(rep.Rows, Row{Check: "local destination writable: " + existing, Method: "local", Result: OK, Required: true})
	return nil
}

// nearestExisting returns p or its closest existing ancestor.
func nearestExisting(p string) string {
	p = filepath.Clean(p)
	for {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// checkBucket learns whether the bucket exists, its region and its default encryption.
func checkBucket(ctx context.Context, rep *Report, c S3, bucket string) error {
	// The first request to S3: a few tries only, so that an endpoint that cannot be reached is said in seconds.
	hctx, cancel := context.WithTimeout(ctx, s3store.HeadBucketTimeout)
	out, err := c.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, func(o *s3.Options) { o.RetryMaxAttempts = 3 })
	timedOut := hctx.Err() != nil && ctx.Err() == nil
	cancel()
	kind := transfer.KindOf(s3store.Classify(err))
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && timedOut:
		return transfer.Usagef("S3 did not answer HeadBucket of bucket %s within %v: check --endpoint-url, the network, or a proxy", bucket, s3store.HeadBucketTimeout)
	case err == nil:
		rep.Region = aws.ToString(out.BucketRegion)
		rep.Rows = append(rep.Rows, Row{Check: "bucket " + bucket + " exists", Method: "probed", Result: OK, Detail: regionDetail(rep.Region)})
	case kind == transfer.KindNotFound || s3store.Code(err) == "NoSuchBucket":
		rep.Rows = append(rep.Rows, Row{Check: "bucket " + bucket + " exists", Method: "probed", Result: Failed, Detail: "no such bucket"})
		return transfer.Usagef("bucket %s does not exist (NoSuchBucket): check the name in the s3:// URL", bucket)
	case s3store.Code(err) == "RequestTimeTooSkewed":
		return &CredentialsError{fmt.Errorf("this machine's clock is too far from the server's for signed requests (RequestTimeTooSkewed): fix the clock (chrony/NTP): %w", err)}
	case kind == transfer.KindCredentials:
		return &CredentialsError{fmt.Errorf("S3 rejected the credentials: %w", err)}
	case kind == transfer.KindUnreachable:
		return transfer.Usagef("%v, for bucket %s: check --endpoint-url, the network, or a proxy", s3store.Classify(err), bucket)
	default:
		// HeadBucket is authorized by s3:ListBucket, which a prefix- or key-scoped policy may not grant; the
		// requirement rows below tell. A redirect still names the bucket's region.
		rep.Region = s3store.ResponseHeader(err, "X-Amz-Bucket-Region")
		rep.Rows = append(rep.Rows, Row{Check: "bucket " + bucket + " exists", Method: "probed", Result: NotChecked,
			Detail: fmt.Sprintf("HeadBucket: %s%s", transfer.Brief(err), regionDetail(rep.Region))})
	}
	enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err == nil && enc.ServerSideEncryptionConfiguration != nil {
		for _, r := range enc.ServerSideEncryptionConfiguration.Rules {
			if d := r.ApplyServerSideEncryptionByDefault; d != nil && strings.HasPrefix(string(d.SSEAlgorithm), "aws:kms") {
				rep.KMSKey = aws.ToString(d.KMSMasterKeyID)
				if rep.KMSKey == "" {
					rep.KMSKey = s3store.AWSManagedKey
				}
			}
		}
	}
	return nil
}

func regionDetail(r string) string {
	if r == "" {
		return ""
	}
	return "region " + r
}

// simResult is the simulator's verdict on one requirement.
type simResult struct {
	allowed bool
	detail  string
}

// simulate asks iam:SimulatePrincipalPolicy about every requirement. It returns nil when the caller may not use
// the simulator (or the server has none): then probes decide alone.
func simulate(ctx context.Context, c IAM, id Identity, reqs []Requirement) map[string]simResult {
	if c == nil {
		return nil
	}
	// IAM is a global service with no endpoint on a subnet without internet access: each call is bounded like STS's,
	// and the first that fails ends the simulation, so that a simulator out of reach costs one bound and the probes
	// decide.
	bounded := func(o *iam.Options) { o.RetryMaxAttempts = stsAttempts }
	var source string
	switch id.Kind {
	case KindUser:
		source = id.ARN
	case KindAssumedRole, KindSSORole, KindInstanceRole:
		// STS drops the role's path (ParallelCluster roles live under /parallelcluster/<cluster>/); the simulator
		// needs the exact ARN, which only iam:GetRole knows.
		gctx, cancel := context.WithTimeout(ctx, stsTimeout)
		out, err := c.GetRole(gctx, &iam.GetRoleInput{RoleName: aws.String(id.RoleName)}, bounded)
		cancel()
		if err != nil || out.Role == nil {
			return nil
		}
		source = aws.ToString(out.Role.Arn)
	default:
		return nil
	}
	results := map[string]simResult{}
	for _, r := range reqs {
		if !strings.HasPrefix(r.Resource, "arn:") {
			// A KMS key given as a key id or an alias (--sse-kms-key-id, or aws/s3): the simulator takes ARNs only,
			// and refusing one would end the whole simulation. The probes decide that row.
			continue
		}
		in := &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(source),
			ActionNames:     []string{r.Action},
			ResourceArns:    []string{r.Resource},
		}
		if s3Action(r.Action) == actListBucket && r.Prefix != "" {
			in.ContextEntries = []iamtypes.ContextEntry{{ContextKeyName: aws.String(prefixKey(r.Action)),
				ContextKeyType: iamtypes.ContextKeyTypeEnumString, ContextKeyValues: []string{r.Prefix}}}
		}
		sctx, cancel := context.WithTimeout(ctx, stsTimeout)
		out, err := c.SimulatePrincipalPolicy(sctx, in, bounded)
		cancel()
		if err != nil {
			return nil
		}
		for _, er := range out.EvaluationResults {
			d := er.EvalDecision
			res := simResult{allowed: d == iamtypes.PolicyEvaluationDecisionTypeAllowed, detail: "simulator: " + string(d)}
			if d == iamtypes.PolicyEvaluationDecisionTypeExplicitDeny {
				res.detail = "simulator: explicitDeny (a Deny statement matches)"
			}
			results[r.Action+" "+r.Resource] = res
		}
	}
	return results
}

// prober runs the live probes. None of them reads or writes user data.
type prober struct {
	s3        S3
	bucket    string
	prefix    string
	recursive bool
	probeKey  string
	firstKey  string // an existing object under the prefix, learned from the listing
	firstSize int64
	// listAllowed records that the listing probe was allowed: only then does S3 answer a GET of a missing key with
	// 404 rather than 403, so that a 403 means the GET itself is refused.
	listAllowed bool
	abort       *probeResult // the AbortMultipartUpload probe, once run
	del         *probeResult // the DeleteObject probe, once run
	leftovers   []string     // what probes left behind and could not remove
	upload      bool
	// enc is the uploads' encryption, which every probe that creates an object or an upload asks for too.
	enc s3store.Encryption
	// kmsGenerate and kmsRead are what the S3 probes proved of the KMS key on the way (the bucket's, or the one the
	// uploads ask for): a multipart upload started under the key needs kms:GenerateDataKey, a read of an object
	// encrypted under it kms:Decrypt.
	kmsGenerate, kmsRead *probeResult
}

type probeResult struct {
	done    bool
	allowed bool
	detail  string
	err     error
	// kms is set when S3 allowed the request but the bucket's KMS key refused it: S3 answers AccessDenied with a
	// message naming the kms: action (and usually the key). The S3 permission is then proven, and the KMS one denied.
	kms *kmsDenial
}

// kmsDenial is a KMS refusal found by an S3 probe.
type kmsDenial struct {
	action, key, message string
}

// kmsAction and kmsKeyARN find what a KMS refusal names in S3's AccessDenied message, e.g. "... is not authorized to
// perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:111122223333:key/... because ...". The kind of the
// error (a denial) comes from its code; the message only says which permission was missing, for the advice.
var (
	kmsAction = regexp.MustCompile(`\bkms:[A-Za-z]+`)
	kmsKeyARN = regexp.MustCompile(`arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key|alias)/[A-Za-z0-9/_+=.@-]+`)
)

// probeKey is a key under the destination prefix that no user file can have.
func probeKey(prefix string, recursive bool) string {
	b := make([]byte, 8)
	rand.Read(b)
	dir := prefix
	if !recursive {
		dir = path.Dir(prefix) + "/"
		if dir == "./" {
			dir = ""
		}
	}
	return dir + ".fsxsync-preflight-" + hex.EncodeToString(b)
}

// denied reports whether a probe's answer refuses the permission it asked about.
func denied(err error) bool { return transfer.KindOf(s3store.Classify(err)) == transfer.KindDenied }

func (p *prober) outcome(err error) probeResult {
	switch {
	case err == nil:
		return probeResult{done: true, allowed: true}
	case denied(err):
		var api interface{ ErrorMessage() string }
		if errors.As(err, &api) {
			if action := kmsAction.FindString(api.ErrorMessage()); action != "" {
				return probeResult{done: true, allowed: true, err: err,
					detail: "S3 allowed it; the KMS key refused " + action + " (see its row)",
					kms:    &kmsDenial{action: action, key: kmsKeyARN.FindString(api.ErrorMessage()), message: transfer.Brief(err)}}
			}
		}
		return probeResult{done: true, allowed: false, detail: transfer.Brief(err), err: err}
	}
	return probeResult{detail: "probe failed: " + transfer.Brief(err), err: err}
}

func (p *prober) probe(ctx context.Context, r Requirement) probeResult {
	b := aws.String(p.bucket)
	switch s3Action(r.Action) {
	case actCreateSession:
		// The SDK opens sessions by itself, and a refusal then reaches the caller inside a credentials error that
		// keeps none of S3's answer; asked for outright, CreateSession answers as any operation does.
		mode := s3types.SessionModeReadOnly
		if p.upload {
			mode = s3types.SessionModeReadWrite
		}
		_, err := p.s3.CreateSession(ctx, &s3.CreateSessionInput{Bucket: b, SessionMode: mode})
		return p.outcome(err)
	case actListBucket:
		in := &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(1)}
		if r.Prefix != "" {
			in.Prefix = aws.String(r.Prefix)
		}
		out, err := p.s3.ListObjectsV2(ctx, in)
		if err == nil && len(out.Contents) > 0 {
			p.firstKey, p.firstSize = aws.ToString(out.Contents[0].Key), aws.ToInt64(out.Contents[0].Size)
		}
		p.listAllowed = err == nil
		return p.outcome(err)
	case actGetObject:
		key := p.firstKey
		if !p.recursive {
			key = p.prefix
		}
		if key == "" {
			return p.probeGetMissing(ctx)
		}
		if p.firstSize == 0 && p.recursive {
			_, err := p.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)})
			return p.outcome(err)
		}
		out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key), Range: aws.String("bytes=0-0")})
		if err == nil {
			out.Body.Close()
			if underKMS(out.ServerSideEncryption) {
				p.kmsRead = &probeResult{done: true, allowed: true, detail: "read a byte of " + key + ", encrypted under the key"}
			}
		}
		if transfer.IsNotFound(s3store.Classify(err)) || s3store.Code(err) == "InvalidRange" {
			// Allowed to ask: the object is just not there (a single-object cp) or empty.
			return probeResult{done: true, allowed: true, detail: transfer.Brief(err)}
		}
		if s3store.Code(err) == "InvalidObjectState" {
			// An archived object (Glacier Flexible Retrieval, Deep Archive, an Intelligent-Tiering archive tier) cannot
			// be read until it is restored, whoever asks: it says nothing about the permission. A HEAD, which
			// s3:GetObject also authorizes, answers for archived objects too (S3 API Reference: GetObject, HeadObject).
			_, herr := p.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)})
			res := p.outcome(herr)
			if res.allowed {
				res.detail = "HeadObject of " + key + ", which is archived (" + transfer.Brief(err) + ")"
			}
			return res
		}
		return p.outcome(err)
	case actAbortMultipart:
		return p.probeAbort(ctx)
	case actRestoreObject:
		return p.probeRestore(ctx)
	case actPutObject:
		if res := p.probeAbort(ctx); !res.done || !res.allowed {
			// Starting an upload that could not be aborted would leave it open in the bucket. A PUT whose
			// Content-MD5 cannot match is authorized first and then refused as BadDigest, storing nothing.
			put := &s3.PutObjectInput{Bucket: b, Key: aws.String(p.probeKey),
				Body: strings.NewReader("x"), ContentMD5: aws.String("AAAAAAAAAAAAAAAAAAAAAA==")}
			p.enc.OnPut(put)
			_, err := p.s3.PutObject(ctx, put)
			if s3store.Code(err) == "BadDigest" {
				return probeResult{done: true, allowed: true}
			}
			return p.outcome(err)
		}
		create := &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(p.probeKey)}
		p.enc.OnCreate(create)
		out, err := p.s3.CreateMultipartUpload(ctx, create)
		if err == nil && underKMS(out.ServerSideEncryption) {
			// Only S3's answer proves that a key was used: a server that ignores the header accepts it all the same.
			p.kmsGenerate = &probeResult{done: true, allowed: true, detail: "started a multipart upload under the key" + keyNamed(out.SSEKMSKeyId)}
		}
		if err == nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			_, aerr := p.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String(p.probeKey), UploadId: out.UploadId})
			cancel()
			if aerr != nil {
				return probeResult{done: true, allowed: true, detail: "started a probe upload but could not abort it: " + transfer.Brief(aerr)}
			}
		}
		return p.outcome(err)
	case actKMSGenerate:
		if p.kmsGenerate != nil {
			return *p.kmsGenerate
		}
		return probeResult{detail: "no probe started an upload that S3 said it encrypted under a KMS key"}
	case actKMSDecrypt:
		if !p.upload {
			if p.kmsRead != nil {
				return *p.kmsRead
			}
			return probeResult{detail: "no object encrypted under the key was read"}
		}
		return p.probeMultipartComplete(ctx)
	case actDeleteObject:
		res := p.probeDelete(ctx)
		if res.allowed {
			// With delete proven, the zero-byte PUT probe can always be cleaned up: it checks PutObject itself
			// (not only CreateMultipartUpload) against bucket policies.
			in := &s3.PutObjectInput{Bucket: b, Key: aws.String(p.probeKey), Body: strings.NewReader("")}
			p.enc.OnPut(in)
			if put, err := p.s3.PutObject(ctx, in); err == nil {
				p.remove(ctx, aws.ToString(put.VersionId), "the probe object")
			}
		}
		return res
	}
	return probeResult{detail: "no probe for this action"}
}

// probeDelete deletes the probe key, which no object has: S3 answers 204 when allowed, 403 when not, and removes
// nothing; on a versioned bucket it adds a delete marker (S3 User Guide, "Deleting object versions"), which is
// removed again by its own version id. The answer is kept: the KMS probe asks it first too.
func (p *prober) probeDelete(ctx context.Context) probeResult {
	if p.del != nil {
		return *p.del
	}
	out, err := p.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.probeKey)})
	res := p.outcome(err)
	if err == nil && aws.ToBool(out.DeleteMarker) {
		p.remove(ctx, aws.ToString(out.VersionId), "a delete marker")
	}
	p.del = &res
	return res
}

// probeMultipartComplete proves kms:Decrypt for an upload to a bucket encrypted with SSE-KMS: S3 decrypts the data
// key to complete a multipart upload (S3 API Reference, CreateMultipartUpload: "Multipart upload and permissions"),
// so the probe makes the calls a multipart upload makes, create, one part and complete, and removes the object that
// makes, by its version. It runs only where deleting is allowed, so that it never leaves an object behind.
func (p *prober) probeMultipartComplete(ctx context.Context) probeResult {
	if del := p.probeDelete(ctx); !del.allowed {
		return probeResult{detail: "proving it means completing a multipart upload, whose object this identity may not delete (s3:DeleteObject)"}
	}
	b, k := aws.String(p.bucket), aws.String(p.probeKey)
	create := &s3.CreateMultipartUploadInput{Bucket: b, Key: k}
	p.enc.OnCreate(create)
	created, err := p.s3.CreateMultipartUpload(ctx, create)
	if err != nil {
		return probeResult{detail: "starting the probe upload failed: " + transfer.Brief(err)}
	}
	abort := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		p.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: b, Key: k, UploadId: created.UploadId})
	}
	part, err := p.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: created.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("x"), ContentLength: aws.Int64(1)})
	if err != nil {
		abort()
		return probeResult{detail: "uploading the probe part failed: " + transfer.Brief(err)}
	}
	done, err := p.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: created.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		abort()
		res := p.outcome(err)
		if res.kms != nil && res.kms.action == actKMSDecrypt {
			return probeResult{done: true, allowed: false, detail: res.kms.message}
		}
		return probeResult{detail: "completing the probe upload failed: " + transfer.Brief(err)}
	}
	p.remove(ctx, aws.ToString(done.VersionId), "the probe object")
	if !underKMS(created.ServerSideEncryption) && !underKMS(done.ServerSideEncryption) {
		// A server that ignores encryption headers completes the upload without any key: that proves nothing.
		return probeResult{detail: "S3 completed the probe upload, and removed it, but did not say it was encrypted under a KMS key"}
	}
	return probeResult{done: true, allowed: true, detail: "completed a one-part multipart upload under the key, then removed it"}
}

// underKMS reports whether S3 said an object or upload is encrypted under a KMS key (SSE-KMS or DSSE-KMS).
func underKMS(sse s3types.ServerSideEncryption) bool {
	return sse == s3types.ServerSideEncryptionAwsKms || sse == s3types.ServerSideEncryptionAwsKmsDsse
}

// keyNamed is the key S3 said it used, as a detail: S3 answers with the key's ARN, whatever form it was given in.
func keyNamed(keyID *string) string {
	if k := aws.ToString(keyID); k != "" {
		return " (S3 named " + k + ")"
	}
	return ""
}

// abortTimeout bounds each clean-up a probe makes (an abort, a delete), which may run after ctx was cancelled.
const abortTimeout = 10 * time.Second

// remove deletes what a probe left at the probe key: the exact version when the bucket keeps versions (a plain
// delete there would keep the object, behind a new delete marker), else the key. What cannot be removed is reported.
func (p *prober) remove(ctx context.Context, versionID, what string) {
	in := &s3.DeleteObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.probeKey)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if _, err := p.s3.DeleteObject(dctx, in); err != nil {
		left := fmt.Sprintf("%s at s3://%s/%s", what, p.bucket, p.probeKey)
		if versionID != "" {
			left += " (version " + versionID + ", which needs s3:DeleteObjectVersion to remove)"
		}
		p.leftovers = append(p.leftovers, left+" remains: "+transfer.Brief(err))
	}
}

// probeGetMissing proves s3:GetObject where there is no object to read yet (an upload into an empty prefix): it
// asks for the probe key, which no object has. S3 authorizes a GET before it looks the key up, so 404 NoSuchKey
// proves the permission. A 403 is a refusal only once s3:ListBucket is proven; without that permission S3 answers 403
// for every missing key, allowed to read it or not.
func (p *prober) probeGetMissing(ctx context.Context) probeResult {
	out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.probeKey),
		Range: aws.String("bytes=0-0")})
	if err == nil {
		out.Body.Close()
	}
	switch {
	case transfer.IsNotFound(s3store.Classify(err)):
		return probeResult{done: true, allowed: true, detail: "a key that does not exist: " + transfer.Brief(err)}
	case denied(err) && !p.listAllowed:
		return probeResult{detail: "no object under the prefix to read, and a missing key's 403 says nothing without s3:ListBucket", err: err}
	}
	return p.outcome(err)
}

// probeRestore proves s3:RestoreObject without restoring anything: it asks for a restore of the probe key, which no
// object has. A restore of a real object is never asked for: it costs a retrieval and keeps a copy for days. S3
// authorizes a request before it looks the object up, as for probeGetMissing, so 404 NoSuchKey proves the permission,
// and so does 403 InvalidObjectState, its answer for an object in no archive class (S3 API Reference: RestoreObject).
// A 403 AccessDenied is a refusal only once s3:ListBucket is proven; without it S3 may answer 403 for any missing
// key. Any other answer (a server with no archive tier answers 501 NotImplemented) proves nothing: not checked.
func (p *prober) probeRestore(ctx context.Context) probeResult {
	_, err := p.s3.RestoreObject(ctx, &s3.RestoreObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.probeKey),
		RestoreRequest: &s3types.RestoreRequest{Days: aws.Int32(1), GlacierJobParameters: &s3types.GlacierJobParameters{Tier: s3types.TierBulk}}})
	switch {
	case transfer.IsNotFound(s3store.Classify(err)):
		return probeResult{done: true, allowed: true, detail: "a restore of a key that does not exist: " + transfer.Brief(err)}
	case s3store.Code(err) == "InvalidObjectState":
		return probeResult{done: true, allowed: true, detail: "a restore of a key in no archive class: " + transfer.Brief(err)}
	case err == nil:
		// Someone stored an archived object under the probe key since the listing: the request was allowed.
		return probeResult{done: true, allowed: true, detail: "a restore of " + p.probeKey + " was accepted"}
	case denied(err) && !p.listAllowed:
		return probeResult{detail: "a missing key's 403 says nothing without s3:ListBucket", err: err}
	}
	return p.outcome(err)
}

// probeAbort aborts an upload that does not exist: S3 authorizes the request before it looks the upload up, so
// NoSuchUpload means allowed. The answer is kept: the PutObject probe needs it first.
func (p *prober) probeAbort(ctx context.Context) probeResult {
	if p.abort != nil {
		return *p.abort
	}
	_, err := p.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(p.bucket),
		Key: aws.String(p.probeKey), UploadId: aws.String("fsxsync-preflight-no-such-upload")})
	if transfer.IsNotFound(s3store.Classify(err)) {
		err = nil
	}
	res := p.outcome(err)
	p.abort = &res
	return res
}

// checkSpace compares the bytes a download may fetch with the free space at the destination. It reads at most ten
// pages of the listing (10,000 objects) so the preflight stays fast; beyond that it checks what it saw.
func checkSpace(ctx context.Context, rep *Report, c S3, bucket, prefix, local string, free func(string) (int64, error)) error {
	var total int64
	complete := true
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == 10 {
			complete = false
			break
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			rep.Rows = append(rep.Rows, Row{Check: "free space at " + nearestExisting(local), Method: "local", Result: NotChecked,
				Required: true, Detail: "listing the source to size it failed: " + transfer.Brief(err)})
			return nil
		}
		for _, o := range out.Contents {
			total += aws.ToInt64(o.Size)
		}
	}
	dir := nearestExisting(local)
	avail, err := free(dir)
	if err != nil {
		rep.Rows = append(rep.Rows, Row{Check: "free space at " + dir, Method: "local", Result: NotChecked, Required: true,
			Detail: "statfs: " + err.Error()})
		return nil
	}
	what := transfer.HumanBytes(total)
	if !complete {
		what = "at least " + what
	}
	row := Row{Check: "free space at " + dir, Method: "local", Result: OK, Required: true,
		Detail: fmt.Sprintf("%s to fetch, %s free", what, transfer.HumanBytes(avail))}
	if total > avail {
		row.Result = Failed
		rep.Rows = append(rep.Rows, row)
		return transfer.Usagef("not enough space at %s: the download needs %s, %s is free", dir, what, transfer.HumanBytes(avail))
	}
	rep.Rows = append(rep.Rows, row)
	return nil
}

// freeSpace is what an unprivileged user may still write at dir (statfs f_bavail).
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// uploadRefusedByProbe reports whether a probe, which goes through the bucket policy, refused s3:PutObject.
func uploadRefusedByProbe(denied []Denial) bool {
	return slices.ContainsFunc(denied, func(d Denial) bool {
		return d.Action == actPutObject && strings.Contains(d.Method, "probed")
	})
}

// allS3Refused reports whether no s3: requirement was allowed and some were refused: the caller could do nothing
// in the bucket.
func allS3Refused(rows []Row) bool {
	refused := false
	for _, r := range rows {
		if r.Required && isS3Check(r.Check) {
			switch r.Result {
			case Allowed:
				return false
			case Denied:
				refused = true
			}
		}
	}
	return refused
}
