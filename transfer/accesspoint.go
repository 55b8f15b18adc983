package transfer

import (
	"fmt"
	"strings"
)

// AccessPoint is an S3 access point named by its ARN, which an s3:// URL may give in place of a bucket name. The SDK
// takes the ARN as the bucket and sends the requests to the access point's own host, signed for the ARN's region
// (S3 User Guide: "Using access points"; "Referencing access points with ARNs, access point aliases, or
// virtual-hosted–style URIs"). An access point alias (NAME-RANDOM-s3alias, or ...--op-s3 on an Outpost) is a valid
// bucket name and needs none of this.
type AccessPoint struct {
	// ARN is the access point's ARN as given, without a key: arn:PARTITION:s3:REGION:ACCOUNT:accesspoint/NAME, or for S3
	// on Outposts arn:PARTITION:s3-outposts:REGION:ACCOUNT:outpost/OUTPOST-ID/accesspoint/NAME.
	ARN string
	// Partition is aws, aws-cn or aws-us-gov; Service is s3 or s3-outposts.
	Partition, Service string
	Region, Account    string
	// Outpost is the Outpost's ID (op-...) of an S3 on Outposts access point, else "".
	Outpost string
	Name    string
}

// ObjectARN is the ARN that names key (or, ending in '*', the keys it begins) through the access point in a policy:
// ARN/object/KEY ("Configuring IAM policies for using access points", S3 User Guide).
func (a AccessPoint) ObjectARN(key string) string { return a.ARN + "/object/" + key }

// AccessPointOf returns the access point a Location's Bucket names, when it is an access point ARN.
func AccessPointOf(bucket string) (AccessPoint, bool) {
	if !strings.HasPrefix(bucket, "arn:") {
		return AccessPoint{}, false
	}
	ap, key, err := parseAccessPoint(bucket)
	if err != nil || key != "" || ap.ARN != bucket {
		return AccessPoint{}, false
	}
	return ap, true
}

// accessPointPartitions are the partitions an access point ARN may name, with the prefix of their regions' names:
// cn-north-1 is in aws-cn, us-gov-west-1 in aws-us-gov, every other region in aws.
var accessPointPartitions = []struct{ name, regionPrefix string }{
	{"aws-cn", "cn-"},
	{"aws-us-gov", "us-gov-"},
	{"aws", ""},
}

// parseAccessPoint parses what follows s3:// when it begins with "arn:": an access point ARN, then optionally '/' and
// the key. The ARN's own resource has '/' in it (accesspoint/NAME), so the key is what follows the name. Every error
// names the part of the ARN that is wrong.
func parseAccessPoint(s string) (AccessPoint, string, error) {
	// The key may hold ':' itself; it is in the sixth field, the resource.
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		return AccessPoint{}, "", fmt.Errorf("%q is not an access point ARN (arn:PARTITION:s3:REGION:ACCOUNT:accesspoint/NAME)", s)
	}
	ap := AccessPoint{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4]}
	resource := parts[5]
	if ap.Service == "s3" && ap.Region == "" && ap.Account == "" {
		return AccessPoint{}, "", fmt.Errorf("arn:%s:s3:::... is a bucket ARN: write s3://BUCKET/prefix with the bucket's name", ap.Partition)
	}
	known := false
	for _, p := range accessPointPartitions {
		known = known || ap.Partition == p.name
	}
	if !known {
		return AccessPoint{}, "", fmt.Errorf("access point ARN: partition %q is not aws, aws-cn or aws-us-gov", ap.Partition)
	}
	// own is the ARN's own resource, up to the access point's name; what follows it is "" or "/KEY".
	var own string
	switch ap.Service {
	case "s3":
		rest, ok := strings.CutPrefix(resource, "accesspoint/")
		if !ok {
			return AccessPoint{}, "", fmt.Errorf("access point ARN: the resource must be accesspoint/NAME, not %q", firstSegments(resource, 2))
		}
		ap.Name, _, _ = strings.Cut(rest, "/")
		own = "accesspoint/" + ap.Name
	case "s3-outposts":
		const outpostForm = "outpost/OUTPOST-ID/accesspoint/NAME"
		rest, ok := strings.CutPrefix(resource, "outpost/")
		if !ok {
			return AccessPoint{}, "", fmt.Errorf("S3 on Outposts access point ARN: the resource must be %s, not %q", outpostForm, firstSegments(resource, 4))
		}
		ap.Outpost, rest, _ = strings.Cut(rest, "/")
		if err := checkOutpostID(ap.Outpost); err != nil {
			return AccessPoint{}, "", err
		}
		rest, ok = strings.CutPrefix(rest, "accesspoint/")
		if !ok {
			return AccessPoint{}, "", fmt.Errorf("S3 on Outposts access point ARN: the resource must be %s, not %q", outpostForm, firstSegments(resource, 4))
		}
		ap.Name, _, _ = strings.Cut(rest, "/")
		own = "outpost/" + ap.Outpost + "/accesspoint/" + ap.Name
	default:
		return AccessPoint{}, "", fmt.Errorf("access point ARN: service %q is not s3 (nor s3-outposts, for S3 on Outposts)", ap.Service)
	}
	if err := checkARNRegion(ap.Region, ap.Partition); err != nil {
		return AccessPoint{}, "", err
	}
	if err := checkAccount(ap.Account); err != nil {
		return AccessPoint{}, "", err
	}
	if err := checkAccessPointName(ap.Name); err != nil {
		return AccessPoint{}, "", err
	}
	ap.ARN = strings.Join(parts[:5], ":") + ":" + own
	key := strings.TrimPrefix(resource[len(own):], "/")
	return ap, key, nil
}

// firstSegments returns the first n '/'-separated segments of s, so that an error quotes the ARN's resource and not
// the key after it.
func firstSegments(s string, n int) string {
	parts := strings.SplitN(s, "/", n+1)
	return strings.Join(parts[:min(n, len(parts))], "/")
}

// checkARNRegion checks an access point ARN's region: present (a Multi-Region Access Point's ARN has none, and needs
// SigV4A signing), shaped like us-east-1 or us-gov-west-1, and in the ARN's partition.
func checkARNRegion(region, partition string) error {
	if region == "" {
		return fmt.Errorf("access point ARN: the region is missing (Multi-Region Access Points, whose ARNs have none, are not supported)")
	}
	if !isRegionName(region) {
		return fmt.Errorf("access point ARN: region %q is not a region name such as us-east-1", region)
	}
	home := "aws"
	for _, p := range accessPointPartitions {
		if p.regionPrefix != "" && strings.HasPrefix(region, p.regionPrefix) {
			home = p.name
		}
	}
	if home != partition {
		return fmt.Errorf("access point ARN: region %s is in partition %s, not %s", region, home, partition)
	}
	return nil
}

// isRegionName reports whether s has the shape of an AWS region's name: two letters, one or more words of letters,
// and a number, joined by '-' (us-east-1, ap-southeast-2, us-gov-west-1).
func isRegionName(s string) bool {
	words := strings.Split(s, "-")
	if len(words) < 3 || len(words[0]) != 2 {
		return false
	}
	for i, w := range words {
		if w == "" {
			return false
		}
		for _, c := range w {
			letter, digit := c >= 'a' && c <= 'z', c >= '0' && c <= '9'
			if i == len(words)-1 && !digit || i < len(words)-1 && !letter {
				return false
			}
		}
	}
	return true
}

// checkAccount checks an ARN's account ID: twelve digits.
func checkAccount(account string) error {
	if account == "" {
		return fmt.Errorf("access point ARN: the account ID is missing")
	}
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return fmt.Errorf("access point ARN: account ID %q is not 12 digits", account)
	}
	return nil
}

// checkOutpostID checks an Outpost's ID: op- and lower-case letters and digits (op-01ac5d28a6a232904).
func checkOutpostID(id string) error {
	if id == "" {
		return fmt.Errorf("S3 on Outposts access point ARN: the Outpost ID is missing")
	}
	rest, ok := strings.CutPrefix(id, "op-")
	if !ok || rest == "" || strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return fmt.Errorf("S3 on Outposts access point ARN: Outpost ID %q is not op- followed by lower-case letters and digits", id)
	}
	return nil
}

// checkAccessPointName applies S3's access point naming rules ("Access points for general purpose buckets naming
// rules, restrictions, and limitations", S3 User Guide): 3 to 50 lower-case letters, digits and '-', beginning and
// ending with a letter or digit.
func checkAccessPointName(name string) error {
	if name == "" {
		return fmt.Errorf("access point ARN: the access point name is missing (accesspoint/NAME)")
	}
	if len(name) < 3 || len(name) > 50 {
		return fmt.Errorf("access point name %q must be 3 to 50 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1:
		default:
			return fmt.Errorf("access point name %q may contain only lower-case letters, digits and '-', and must begin and end with a letter or digit", name)
		}
	}
	return nil
}
