package fsx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TempPrefix starts the name of every temporary file fsxsync creates, so a walk can skip them
// and a later run can recognise (and clean up) leftovers: ".fsxsync-tmp-".
const TempPrefix = ".fsxsync-tmp-"

// tempSuffix ends the name of every temporary file. Requiring it as well as TempPrefix makes it less likely
// that a user's own file is mistaken for a leftover and cleaned up.
const tempSuffix = ".tmp"

// tempRandomBytes is how many random bytes go into a temporary name (hex-encoded, so twice as many characters).
const tempRandomBytes = 8

// IsTemp reports whether a base name is one of our temp files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.HasSuffix(name, tempSuffix)
}

// CreateTemp creates a new temp file in the directory of finalPath (creating parent directories with mode 0755
// as needed), named TempPrefix + base + "-" + random + ".tmp" (base truncated so the name stays <= 255 bytes),
// opened O_RDWR|O_EXCL, mode 0600.
//
// The temp file lives next to its final name because rename(2) is atomic only within one file system.
func CreateTemp(finalPath string) (*os.File, error) {
	dir, base := filepath.Dir(finalPath), filepath.Base(finalPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create temp file for %s: %w", finalPath, err)
	}
	// A collision of 64 random bits is practically impossible, but O_EXCL makes one harmless, so try again.
	for range 10 {
		random := make([]byte, tempRandomBytes)
		if _, err := rand.Read(random); err != nil {
			return nil, fmt.Errorf("create temp file for %s: %w", finalPath, err)
		}
		name := tempName(base, hex.EncodeToString(random))
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create temp file for %s: %w", finalPath, err)
		}
	}
	return nil, fmt.Errorf("create temp file for %s: too many name collisions", finalPath)
}

// tempName builds the temp file name for base, shortening base so the whole name fits in NAME_MAX.
func tempName(base, random string) string {
	room := maxNameBytes - len(TempPrefix) - len("-") - len(random) - len(tempSuffix)
	if len(base) > room {
		n := room
		// Cut at a character boundary when base is UTF-8, so the temp name stays readable in listings.
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	return TempPrefix + base + "-" + random + tempSuffix
}

// Commit closes f if not closed, applies mode (perm bits only, if mode != 0) and mtime (if non-zero) to the temp
// file, then renames it to finalPath. If finalPath exists as a directory, it fails and leaves it alone. On any
// error the temp file is removed.
//
// Readers see either the old file or the complete new one, never a partial file, because rename(2) replaces the
// name atomically. The file is not fsynced: a crash can lose a download, but a later run finds the file missing
// or stale and fetches it again, and an fsync per file is expensive on Lustre.
func Commit(f *os.File, finalPath string, mode fs.FileMode, mtime time.Time) error {
	return CommitWith(f, finalPath, Attrs{Mode: mode.Perm(), Mtime: mtime})
}

// Attrs are what CommitWith applies to a downloaded file before it takes its final name.
type Attrs struct {
	// Mode: permission bits, plus setuid/setgid/sticky when the caller chose to keep them; 0 leaves the mode
	// unless SetMode says to apply it (a file whose permissions are 000).
	Mode    fs.FileMode
	SetMode bool
	Mtime   time.Time // zero leaves it
	// Chown applies UID and GID (-1 leaves one of them).
	Chown    bool
	UID, GID int
}

// CommitWith is Commit with owner and special mode bits: owner first, since chown clears setuid and setgid.
func CommitWith(f *os.File, finalPath string, a Attrs) error {
	tmp := f.Name()
	fail := func(err error) error {
		_ = os.Remove(tmp)
		return fmt.Errorf("commit %s: %w", finalPath, err)
	}
	// Close reports write-back errors on network file systems, so it must succeed before the file is trusted.
	if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fail(err)
	}
	if a.Chown {
		if err := os.Lchown(tmp, a.UID, a.GID); err != nil {
			return fail(err)
		}
	}
	if a.Mode != 0 || a.SetMode {
		if err := os.Chmod(tmp, a.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fail(err)
		}
	}
	if !a.Mtime.IsZero() {
		// The zero access time leaves atime as it is.
		if err := os.Chtimes(tmp, time.Time{}, a.Mtime); err != nil {
			return fail(err)
		}
	}
	// rename(2) itself refuses to replace a directory with a file (EISDIR), so no separate check is needed,
	// and a check would cost a round trip per file on Lustre and still race with other processes.
	if err := os.Rename(tmp, finalPath); err != nil {
		return fail(err)
	}
	return nil
}

// Discard closes and removes a temp file (ignores errors; used on failure paths).
func Discard(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// DefaultFileMode is the mode a new file gets when the data carries none (an object without POSIX metadata): 0666
// less the process's umask, as for any file a program creates. The umask is read from /proc/self/status rather
// than with umask(2), which can only read it by changing it, for a moment, for every thread.
func DefaultFileMode() fs.FileMode {
	mask := fs.FileMode(0o022)
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					mask = fs.FileMode(m)
				}
			}
		}
	}
	return 0o666 &^ mask
}

// TempTarget returns the base name of the file a temp file was going to become, and false when the name was
// shortened to fit (then the target cannot be known from the name alone).
func TempTarget(tempBase string) (string, bool) {
	if !IsTemp(tempBase) {
		return "", false
	}
	s := strings.TrimSuffix(strings.TrimPrefix(tempBase, TempPrefix), tempSuffix)
	i := strings.LastIndexByte(s, '-')
	if i < 0 || len(tempBase) >= maxNameBytes {
		return "", false
	}
	return s[:i], true
}
