package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The st_mode bits of the FSx for Lustre metadata format, as in <sys/stat.h>.
const (
	// ModeTypeMask selects the file-type bits of an st_mode (S_IFMT).
	ModeTypeMask = 0170000
	// ModeRegular is the type of a regular file (S_IFREG).
	ModeRegular = 0100000
	// ModeDir is the type of a directory (S_IFDIR).
	ModeDir = 040000
	// ModeSymlink is the type of a symbolic link (S_IFLNK).
	ModeSymlink = 0120000
)

// The remaining st_mode bits. They are unexported because objects only ever describe regular files,
// directories and symlinks, but StatMode and FileMode still convert them faithfully.
const (
	modeFIFO   = 010000  // S_IFIFO
	modeChar   = 020000  // S_IFCHR
	modeBlock  = 060000  // S_IFBLK
	modeSocket = 0140000 // S_IFSOCK
	modeSetuid = 04000   // S_ISUID
	modeSetgid = 02000   // S_ISGID
	modeSticky = 01000   // S_ISVTX
	modePerm   = 0777
	// modeMax is the largest st_mode value: the type and permission bits fill 16 bits.
	modeMax = 0177777
)

// User-metadata keys, lower-case and without the "x-amz-meta-" prefix, as the Go SDK exposes them.
const (
	metaPermissions = "file-permissions"
	metaOwner       = "file-owner"
	metaGroup       = "file-group"
	metaMtime       = "file-mtime"
	metaAtime       = "file-atime"
	metaUserAgent   = "user-agent"
	// metaRcloneMtime is where rclone keeps the modification time, as decimal seconds.
	metaRcloneMtime = "mtime"
	amzMetaPrefix   = "x-amz-meta-"
)

// knownMetaKeys lists the keys DecodeMeta reads, in a fixed order so that errors come out in a stable order.
func knownMetaKeys() []string {
	return []string{metaPermissions, metaOwner, metaGroup, metaMtime, metaAtime, metaUserAgent, metaRcloneMtime}
}

// Meta is the POSIX metadata carried by an object.
type Meta struct {
	// Mode is st_mode including the type bits (ModeRegular, ModeDir, ModeSymlink); 0 means absent.
	Mode uint32
	// UID and GID are the numeric owner and group; HasUID and HasGID say whether they are present.
	UID, GID       uint32
	HasUID, HasGID bool
	// Mtime is the modification time; the zero time means absent.
	Mtime time.Time
	// Atime is the access time; the zero time means absent.
	Atime time.Time
	// UserAgent names the tool that wrote the metadata: "aws-fsx-lustre" for FSx, "fsxsync" for us.
	UserAgent string
}

// EncodeMeta returns the user-metadata map to attach to an object (only present fields).
//
// Times are written as nanoseconds since the epoch with an "ns" suffix, as FSx writes them. A time that does not
// fit in 64-bit nanoseconds (before 1678 or after 2262) cannot be written that way and is left out.
func EncodeMeta(m Meta) map[string]string {
	md := make(map[string]string, 6)
	if m.Mode != 0 {
		md[metaPermissions] = "0" + strconv.FormatUint(uint64(m.Mode), 8)
	}
	if m.HasUID {
		md[metaOwner] = strconv.FormatUint(uint64(m.UID), 10)
	}
	if m.HasGID {
		md[metaGroup] = strconv.FormatUint(uint64(m.GID), 10)
	}
	if v, ok := formatNanos(m.Mtime); ok {
		md[metaMtime] = v
	}
	if v, ok := formatNanos(m.Atime); ok {
		md[metaAtime] = v
	}
	if m.UserAgent != "" {
		md[metaUserAgent] = m.UserAgent
	}
	return md
}

// formatNanos writes t in the FSx form, such as "1595002920123456789ns". It reports false for the zero time and
// for times that a signed 64-bit count of nanoseconds cannot hold.
func formatNanos(t time.Time) (string, bool) {
	if t.IsZero() || t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return "", false
	}
	return strconv.FormatInt(t.UnixNano(), 10) + "ns", true
}

// DecodeMeta reads metadata; keys are matched case-insensitively and may carry an "x-amz-meta-" prefix.
// A malformed value yields an error naming the key and the value (callers treat it as absent, but may report it).
//
// The returned Meta always holds every field that could be read, even when the error is not nil: only the
// malformed fields are left absent. Two keys that differ only in case or prefix but carry different values are
// ambiguous and reported as malformed. The rclone "mtime" key (decimal seconds) is used only when "file-mtime"
// is absent or malformed.
func DecodeMeta(md map[string]string) (Meta, error) {
	vals, errs := canonicalMeta(md)
	var m Meta
	if v, ok := vals[metaPermissions]; ok {
		mode, err := parseMode(v)
		if err != nil {
			errs = append(errs, metaError(metaPermissions, v, err))
		} else {
			m.Mode = mode
		}
	}
	if v, ok := vals[metaOwner]; ok {
		id, err := parseID(v)
		if err != nil {
			errs = append(errs, metaError(metaOwner, v, err))
		} else {
			m.UID, m.HasUID = id, true
		}
	}
	if v, ok := vals[metaGroup]; ok {
		id, err := parseID(v)
		if err != nil {
			errs = append(errs, metaError(metaGroup, v, err))
		} else {
			m.GID, m.HasGID = id, true
		}
	}
	if v, ok := vals[metaMtime]; ok {
		t, err := parseFSxTime(v)
		if err != nil {
			errs = append(errs, metaError(metaMtime, v, err))
		} else {
			m.Mtime = t
		}
	}
	if v, ok := vals[metaRcloneMtime]; ok && m.Mtime.IsZero() {
		t, err := parseDecimalSeconds(v)
		if err != nil {
			errs = append(errs, metaError(metaRcloneMtime, v, err))
		} else {
			m.Mtime = t
		}
	}
	if v, ok := vals[metaAtime]; ok {
		t, err := parseFSxTime(v)
		if err != nil {
			errs = append(errs, metaError(metaAtime, v, err))
		} else {
			m.Atime = t
		}
	}
	if v, ok := vals[metaUserAgent]; ok {
		m.UserAgent = v
	}
	return m, errors.Join(errs...)
}

// canonicalMeta picks the keys DecodeMeta knows out of md, lower-cased and without the "x-amz-meta-" prefix.
// A key spelled several ways with different values is left out and reported, because which one S3 or a proxy
// meant cannot be known; map iteration order must not decide it.
func canonicalMeta(md map[string]string) (map[string]string, []error) {
	known := knownMetaKeys()
	seen := make(map[string][]string)
	for k, v := range md {
		name := strings.ToLower(k)
		name = strings.TrimPrefix(name, amzMetaPrefix)
		if !slices.Contains(known, name) {
			continue
		}
		if !slices.Contains(seen[name], v) {
			seen[name] = append(seen[name], v)
		}
	}
	vals := make(map[string]string, len(seen))
	var errs []error
	for _, name := range known {
		vs := seen[name]
		switch {
		case len(vs) == 1:
			vals[name] = vs[0]
		case len(vs) > 1:
			slices.Sort(vs)
			errs = append(errs, fmt.Errorf("decode metadata %s: conflicting values %q", name, vs))
		}
	}
	return vals, errs
}

// metaError names the key and the value of a malformed field.
func metaError(key, value string, err error) error {
	return fmt.Errorf("decode metadata %s=%q: %w", key, value, err)
}

// parseMode reads an octal st_mode such as "0100644". The leading zero FSx writes is optional.
func parseMode(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, errors.New("not an octal number")
	}
	if n > modeMax {
		return 0, errors.New("larger than 0177777")
	}
	return uint32(n), nil
}

// parseID reads a decimal uid or gid.
func parseID(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, errors.New("not a decimal 32-bit id")
	}
	return uint32(n), nil
}

// parseFSxTime reads a time as FSx writes it: nanoseconds with an "ns" suffix. Without the suffix the number
// is milliseconds, the form older FSx file systems used.
func parseFSxTime(v string) (time.Time, error) {
	if digits, ok := strings.CutSuffix(v, "ns"); ok {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return time.Time{}, errors.New("not a 64-bit count of nanoseconds")
		}
		return time.Unix(0, n), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("not a count of milliseconds or nanoseconds")
	}
	const msPerNs = int64(time.Millisecond)
	if n > math.MaxInt64/msPerNs || n < math.MinInt64/msPerNs {
		return time.Time{}, errors.New("milliseconds out of range")
	}
	return time.Unix(0, n*msPerNs), nil
}

// parseDecimalSeconds reads rclone's modification time, decimal seconds since the epoch such as
// "1595002920.123456789". The plain decimal form is parsed exactly, to the nanosecond (further digits are
// dropped); anything else strconv.ParseFloat accepts, such as "1.5e9", is parsed as a float.
func parseDecimalSeconds(v string) (time.Time, error) {
	if t, ok, err := parseExactSeconds(v); ok {
		return t, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, errors.New("not a number of seconds")
	}
	ns := math.Round(f * 1e9)
	// 9.2e18 keeps clear of the float64 rounding just below 2^63, where the conversion to int64 is undefined.
	if ns > 9.2e18 || ns < -9.2e18 {
		return time.Time{}, errors.New("seconds out of range")
	}
	return time.Unix(0, int64(ns)), nil
}

// parseExactSeconds parses [+-]digits[.digits] without going through a float. It reports ok=false when v
// is not in that form, so the caller can try other forms.
func parseExactSeconds(v string) (t time.Time, ok bool, err error) {
	s := v
	neg := false
	if rest, found := strings.CutPrefix(s, "-"); found {
		s, neg = rest, true
	} else if rest, found := strings.CutPrefix(s, "+"); found {
		s = rest
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(whole) || (hasDot && !allDigits(frac)) {
		return time.Time{}, false, nil
	}
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	sec, perr := strconv.ParseInt(whole, 10, 64)
	if perr != nil || sec > maxSeconds {
		return time.Time{}, true, errors.New("seconds out of range")
	}
	var nsec int64
	if len(frac) > 9 {
		frac = frac[:9]
	}
	if frac != "" {
		nsec, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	if sec == maxSeconds && nsec > math.MaxInt64%int64(time.Second) {
		return time.Time{}, true, errors.New("seconds out of range")
	}
	total := sec*int64(time.Second) + nsec
	if neg {
		total = -total
	}
	return time.Unix(0, total), true, nil
}

// allDigits reports whether s is a non-empty string of ASCII digits; strconv alone would also take signs.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// StatMode converts an fs.FileMode to st_mode bits: type, permissions, setuid, setgid and sticky.
// A type st_mode cannot express (fs.ModeIrregular) yields no type bits.
func StatMode(m fs.FileMode) uint32 {
	st := uint32(m.Perm())
	switch m.Type() {
	case 0:
		st |= ModeRegular
	case fs.ModeDir:
		st |= ModeDir
	case fs.ModeSymlink:
		st |= ModeSymlink
	case fs.ModeNamedPipe:
		st |= modeFIFO
	case fs.ModeSocket:
		st |= modeSocket
	case fs.ModeDevice | fs.ModeCharDevice:
		st |= modeChar
	case fs.ModeDevice:
		st |= modeBlock
	}
	if m&fs.ModeSetuid != 0 {
		st |= modeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		st |= modeSetgid
	}
	if m&fs.ModeSticky != 0 {
		st |= modeSticky
	}
	return st
}

// FileMode converts st_mode bits to an fs.FileMode. No type bits at all (permissions only, as some tools write)
// is taken as a regular file; an unknown type becomes fs.ModeIrregular.
func FileMode(st uint32) fs.FileMode {
	m := fs.FileMode(st & modePerm)
	switch st & ModeTypeMask {
	case 0, ModeRegular:
	case ModeDir:
		m |= fs.ModeDir
	case ModeSymlink:
		m |= fs.ModeSymlink
	case modeFIFO:
		m |= fs.ModeNamedPipe
	case modeSocket:
		m |= fs.ModeSocket
	case modeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case modeBlock:
		m |= fs.ModeDevice
	default:
		m |= fs.ModeIrregular
	}
	if st&modeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if st&modeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if st&modeSticky != 0 {
		m |= fs.ModeSticky
	}
	return m
}
