package fsx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxNameBytes is NAME_MAX on Linux and on Lustre: no path component may be longer.
const maxNameBytes = 255

// UnsafeKeyError reports an object key that cannot be a safe local path.
type UnsafeKeyError struct {
	// Key is the relative key that was refused.
	Key string
	// Reason says in a few words why it was refused.
	Reason string
}

// Error returns a message such as `unsafe key "../x": ".." segment`.
func (e *UnsafeKeyError) Error() string {
	return fmt.Sprintf("unsafe key %q: %s", e.Key, e.Reason)
}

// LocalPath maps a relative key (the part of the object key after the sync prefix, '/'-separated) to a path
// under root. A trailing '/' (directory marker) is allowed and dropped.
//
// It refuses, with an *UnsafeKeyError, an empty key, a leading '/', empty segments ("a//b"), "." or ".."
// segments, NUL bytes and any component longer than 255 bytes. Invalid UTF-8 and backslashes are allowed,
// because Linux accepts any bytes but '/' and NUL in a name. The result is always filepath.Join(root, ...) and
// is guaranteed to be lexically inside root.
func LocalPath(root, relKey string) (string, error) {
	if relKey == "" {
		return "", &UnsafeKeyError{Key: relKey, Reason: "empty key"}
	}
	if relKey[0] == '/' {
		return "", &UnsafeKeyError{Key: relKey, Reason: "leading '/'"}
	}
	if strings.IndexByte(relKey, 0) >= 0 {
		return "", &UnsafeKeyError{Key: relKey, Reason: "NUL byte"}
	}
	// Only one trailing slash is a directory marker; "a//" still has an empty segment and is refused below.
	trimmed := strings.TrimSuffix(relKey, "/")
	for seg := range strings.SplitSeq(trimmed, "/") {
		reason := ""
		switch {
		case seg == "":
			reason = "empty segment"
		case seg == ".":
			reason = `"." segment`
		case seg == "..":
			reason = `".." segment`
		case len(seg) > maxNameBytes:
			reason = fmt.Sprintf("segment longer than %d bytes", maxNameBytes)
		case os.PathSeparator != '/' && strings.ContainsRune(seg, os.PathSeparator):
			// On Linux this case never happens; elsewhere a separator inside a segment would split it.
			reason = "segment contains a path separator"
		}
		if reason != "" {
			return "", &UnsafeKeyError{Key: relKey, Reason: reason}
		}
	}
	p := filepath.Join(root, filepath.FromSlash(trimmed))
	// The checks above already make escaping impossible; this second, independent check is cheap insurance
	// against a mistake in them, since a path outside root could overwrite anything the user can write.
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", &UnsafeKeyError{Key: relKey, Reason: "path escapes the root"}
	}
	return p, nil
}

// KeyOf maps a path relative to the walk root (OS separators) to a relative key ('/'-separated).
func KeyOf(relPath string) string {
	return filepath.ToSlash(relPath)
}

// Reasons CleanKey gives for keys that have no local path. Callers compare Reason with ReasonEscapes to tell a key
// that would leave the destination from one that is malformed.
const (
	// ReasonEscapes is the reason of a key whose ".." segments climb above the destination ("../x", "a/../../x").
	ReasonEscapes = "escapes the destination"
)

// CleanKey maps a relative key to the canonical relative key of the local path it stands for, the way aws-cli
// maps keys to paths: empty and "." segments are dropped ("a//b", "./x" and "/x" become "a/b", "x" and "x"), and a
// ".." segment removes the segment before it ("x/../ok2" becomes "ok2"). A trailing '/' (directory marker) is kept,
// once. A canonical key, one LocalPath accepts, is returned unchanged.
//
// It refuses, with an *UnsafeKeyError, a key whose ".." segments climb above the destination (Reason is
// ReasonEscapes), a key that stands for the destination itself ("a/..", "./"), a key that is not a directory marker
// but ends in a "." or ".." segment (it names a directory, so no file can be written there; aws-cli fails the same
// keys), an empty key, a NUL byte, and any component longer than 255 bytes.
func CleanKey(relKey string) (string, error) {
	if relKey == "" {
		return "", &UnsafeKeyError{Key: relKey, Reason: "empty key"}
	}
	if strings.IndexByte(relKey, 0) >= 0 {
		return "", &UnsafeKeyError{Key: relKey, Reason: "NUL byte"}
	}
	if isCanonical(relKey) {
		return relKey, nil
	}
	marker := strings.HasSuffix(relKey, "/")
	body := strings.TrimSuffix(relKey, "/")
	if !marker {
		if last := body[strings.LastIndexByte(body, '/')+1:]; last == "." || last == ".." {
			return "", &UnsafeKeyError{Key: relKey, Reason: `ends in a "." or ".." segment, which names a directory, not a file`}
		}
	}
	var segs []string
	for seg := range strings.SplitSeq(body, "/") {
		switch {
		case seg == "" || seg == ".":
		case seg == "..":
			if len(segs) == 0 {
				return "", &UnsafeKeyError{Key: relKey, Reason: ReasonEscapes}
			}
			segs = segs[:len(segs)-1]
		case len(seg) > maxNameBytes:
			return "", &UnsafeKeyError{Key: relKey, Reason: fmt.Sprintf("segment longer than %d bytes", maxNameBytes)}
		default:
			segs = append(segs, seg)
		}
	}
	if len(segs) == 0 {
		return "", &UnsafeKeyError{Key: relKey, Reason: "stands for the destination itself"}
	}
	clean := strings.Join(segs, "/")
	if marker {
		clean += "/"
	}
	return clean, nil
}

// isCanonical reports whether a key without NUL bytes has only non-empty segments other than "." and "..", each at
// most 255 bytes, with at most one trailing '/': the keys LocalPath accepts. It does not allocate, so that the
// common case costs little.
func isCanonical(relKey string) bool {
	body := strings.TrimSuffix(relKey, "/")
	if body == "" {
		return false
	}
	for seg := range strings.SplitSeq(body, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > maxNameBytes {
			return false
		}
	}
	return true
}

// IsCanonicalKey reports whether relKey is its own clean form: CleanKey returns it unchanged.
func IsCanonicalKey(relKey string) bool {
	return relKey != "" && strings.IndexByte(relKey, 0) < 0 && isCanonical(relKey)
}
