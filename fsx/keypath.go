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
