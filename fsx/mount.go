package fsx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// MountKind classifies the file system holding a path.
type MountKind string

// Each constant is typed on its own line: in a const block only an omitted expression repeats the type, so
// `MountNFS = "nfs"` after a typed first constant would be an untyped string.
const (
	// MountLustre is a Lustre client mount, which is how FSx for Lustre is mounted.
	MountLustre MountKind = "lustre"
	// MountNFS is an NFS mount: FSx for OpenZFS, FSx for NetApp ONTAP, Amazon EFS or any other NFS server.
	MountNFS MountKind = "nfs"
	// MountLocal is a file system on this machine: a disk, memory, or a container's overlay root.
	MountLocal MountKind = "local"
	// MountOther is everything else, such as FUSE file systems and the kernel's pseudo file systems.
	MountOther MountKind = "other"
)

// mountinfoPath is where Linux lists the mounts visible to the calling process, relative to its root directory.
const mountinfoPath = "/proc/self/mountinfo"

// pathEscaped holds the bytes the kernel writes as octal escapes in the root and mount point fields. Paths are
// escaped by the VFS itself with exactly this set, so any other escape there means the text is not from the kernel.
const pathEscaped = " \t\n\\"

// Mount is one line of mountinfo, decoded.
type Mount struct {
	// ID is the mount's unique ID; ParentID is the ID of the mount it sits on (its own ID for the namespace root).
	ID, ParentID int
	// Root is the directory of the file system shown at MountPoint: "/" for a whole file system, the bound
	// directory for a bind mount. Pseudo file systems may show something else, such as "net:[4026532281]".
	Root string
	// MountPoint is where the mount is attached, relative to the process's root directory.
	MountPoint string
	// Options are the per-mount options (such as "rw,noatime"), as the kernel wrote them: option values may
	// hold octal escapes, which are left alone because decoding them could make a ',' ambiguous.
	Options string
	// FSType is the file system type, such as "lustre", "nfs4" or "fuse.sshfs".
	FSType string
	// Source is the mounted device or remote, such as "/dev/nvme1n1" or "server:/export"; it may be empty.
	Source string
	// SuperOptions are the per-file-system options, left escaped for the same reason as Options.
	SuperOptions string
	// Kind classifies FSType.
	Kind MountKind

	// LustreFSName is the FSx file system ID (such as "fs-0123456789abcdef0") when the Source names the MGS by its
	// FSx DNS name, else the raw NID part of the Source (such as "172.31.0.10@tcp", or "a@tcp:b@tcp" for
	// failover servers). Lustre clients often show the NID as an IP address, so the ID is not always knowable.
	LustreFSName string
	// LustreMountName is the FSx mount name (the Lustre fsname), the first path element after ":/" in the Source.
	LustreMountName string
	// LustreSubdir is the subdirectory mounted when the Source names one, as in "nid@tcp:/name/projects"
	// ("/projects"); it is empty when the whole file system is mounted.
	LustreSubdir string

	// NFSServer and NFSExport split an NFS Source "server:/export" (FSx for OpenZFS, NetApp ONTAP, EFS).
	NFSServer, NFSExport string
}

// MountinfoError reports a line of mountinfo that does not have the format documented in proc(5).
type MountinfoError struct {
	// Line is the 1-based number of the malformed line.
	Line int
	// Err says what is wrong with the line.
	Err error
}

// Error names the line and the problem.
func (e *MountinfoError) Error() string {
	return fmt.Sprintf("mountinfo line %d: %v", e.Line, e.Err)
}

// Unwrap returns the problem without the line number.
func (e *MountinfoError) Unwrap() error {
	return e.Err
}

// ParseMountinfo reads mountinfo text, as in /proc/self/mountinfo. Empty lines are skipped; any other line that
// does not have the documented format makes the whole parse fail with a *MountinfoError naming the line number,
// because a half-read mount table could send a path to the wrong mount.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	// A bufio.Reader rather than a bufio.Scanner: the Scanner caps line length and drops a trailing '\r', and an
	// overlay mount with many layers writes long lines while a '\r' may legitimately end a field.
	br := bufio.NewReader(r)
	var mounts []Mount
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading mountinfo line %d: %w", lineNo, err)
		}
		text := strings.TrimSuffix(line, "\n")
		if text != "" {
			m, perr := parseMountinfoLine(text)
			if perr != nil {
				return nil, &MountinfoError{Line: lineNo, Err: perr}
			}
			mounts = append(mounts, m)
		}
		if err != nil {
			return mounts, nil
		}
	}
}

// parseMountinfoLine decodes one line:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields are separated by single spaces. Splitting on every space, rather than on runs of white space, keeps an
// empty source (two spaces in a row) in its place.
func parseMountinfoLine(text string) (Mount, error) {
	fields := strings.Split(text, " ")
	// Six fixed fields, the "-" separator, then type, source and super options.
	if len(fields) < 10 {
		return Mount{}, fmt.Errorf("%d fields, want at least 10", len(fields))
	}
	// Optional fields (such as "shared:1") come after the sixth field, until a field that is exactly "-".
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 {
		return Mount{}, errors.New(`no "-" field ends the optional fields`)
	}
	if len(fields) < sep+4 {
		return Mount{}, errors.New(`fewer than three fields after "-"`)
	}

	var m Mount
	var err error
	if m.ID, err = parseMountID(fields[0]); err != nil {
		return Mount{}, fmt.Errorf("mount ID: %w", err)
	}
	if m.ParentID, err = parseMountID(fields[1]); err != nil {
		return Mount{}, fmt.Errorf("parent ID: %w", err)
	}
	major, minor, ok := strings.Cut(fields[2], ":")
	if !ok || !allDigits(major) || !allDigits(minor) {
		return Mount{}, fmt.Errorf("device %q is not major:minor", fields[2])
	}
	if m.Root, err = unescapeMountinfo(fields[3], true); err != nil {
		return Mount{}, fmt.Errorf("root %q: %w", fields[3], err)
	}
	if m.MountPoint, err = unescapeMountinfo(fields[4], true); err != nil {
		return Mount{}, fmt.Errorf("mount point %q: %w", fields[4], err)
	}
	if m.Root == "" || m.MountPoint == "" || fields[5] == "" {
		return Mount{}, errors.New("empty root, mount point or options")
	}
	m.Options = fields[5]

	// The type and source are escaped by file-system code (show_devname) rather than by the VFS, and kernels
	// since 6.0 also escape '#' there, so any octal escape is accepted in them.
	if m.FSType, err = unescapeMountinfo(fields[sep+1], false); err != nil {
		return Mount{}, fmt.Errorf("file system type %q: %w", fields[sep+1], err)
	}
	if m.FSType == "" {
		return Mount{}, errors.New("empty file system type")
	}
	if m.Source, err = unescapeMountinfo(fields[sep+2], false); err != nil {
		return Mount{}, fmt.Errorf("mount source %q: %w", fields[sep+2], err)
	}
	// A file system that writes a space into its options without escaping it would otherwise break the whole
	// table, so whatever follows the source is taken as the super options.
	m.SuperOptions = strings.Join(fields[sep+3:], " ")

	m.Kind = mountKindOf(m.FSType)
	switch m.Kind {
	case MountLustre:
		m.LustreFSName, m.LustreMountName, m.LustreSubdir = splitLustreSource(m.Source)
	case MountNFS:
		if server, export, ok := strings.Cut(m.Source, ":/"); ok {
			m.NFSServer, m.NFSExport = server, "/"+export
		}
	}
	return m, nil
}

// parseMountID parses a mount ID, which the kernel prints as a plain decimal number.
func parseMountID(s string) (int, error) {
	if !allDigits(s) {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	return strconv.Atoi(s)
}

// unescapeMountinfo decodes the three-digit octal escapes (such as `\040` for a space) the kernel writes for bytes
// that would break the line format. A backslash that does not start such an escape is an error, since the kernel
// always escapes a backslash. With strictPath, only the bytes of pathEscaped may be escaped and a literal tab is
// refused, so that an accepted path field has exactly one spelling.
func unescapeMountinfo(s string, strictPath bool) (string, error) {
	if !strings.ContainsAny(s, "\\\t") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			v, ok := octalEscape(s[i+1:])
			if !ok {
				return "", fmt.Errorf("backslash at byte %d does not start a three-digit octal escape", i)
			}
			if strictPath && strings.IndexByte(pathEscaped, v) < 0 {
				return "", fmt.Errorf("escape %q at byte %d is not one the kernel writes in paths", s[i:i+4], i)
			}
			b.WriteByte(v)
			i += 3
		case c == '\t' && strictPath:
			return "", fmt.Errorf("unescaped tab at byte %d", i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// octalEscape decodes the three octal digits at the start of s, if they are there and fit in a byte.
func octalEscape(s string) (byte, bool) {
	if len(s) < 3 || s[0] < '0' || s[0] > '3' {
		return 0, false
	}
	v := s[0] - '0'
	for i := 1; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return 0, false
		}
		v = v*8 + s[i] - '0'
	}
	return v, true
}

// mountKindOf classifies a file system type.
func mountKindOf(fsType string) MountKind {
	switch fsType {
	case "lustre":
		return MountLustre
	case "nfs", "nfs4":
		return MountNFS
	// These hold data on this machine's own disks or memory. An overlay is a container's root: what is written
	// there lands on the host's local disk and goes away with the container. ZFS here is a local pool, because
	// FSx for OpenZFS reaches clients over NFS and never shows up as type zfs.
	case "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "vfat", "exfat", "tmpfs", "ramfs", "overlay":
		return MountLocal
	}
	// FUSE file systems ("fuse.sshfs", "fuse.s3fs") may be local or remote, and pseudo file systems (proc,
	// sysfs, cgroup2) hold no user data, so neither is claimed as local.
	return MountOther
}

// splitLustreSource splits a Lustre client source, "MGSNODE[:MGSNODE...]:/FSNAME[/SUBDIR]" where each MGSNODE is
// "NID[,NID...]" (see mount.lustre(8)), into the file system name or NIDs, the mount name and the subdirectory.
// NIDs never hold a '/', so the first ":/" ends them. A source without ":/" yields empty strings.
func splitLustreSource(src string) (fsName, mountName, subdir string) {
	nids, rest, ok := strings.Cut(src, ":/")
	if !ok {
		return "", "", ""
	}
	mountName, sub, _ := strings.Cut(rest, "/")
	if sub != "" {
		subdir = path.Clean("/" + sub)
	}
	if subdir == "/" {
		subdir = ""
	}
	fsName = nids
	if id, ok := fsxIDFromNIDs(nids); ok {
		fsName = id
	}
	return fsName, mountName, subdir
}

// fsxIDFromNIDs returns the FSx file system ID when the first MGS NID is an FSx DNS name such as
// "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com@tcp".
func fsxIDFromNIDs(nids string) (string, bool) {
	first := nids
	if i := strings.IndexAny(first, ":,"); i >= 0 {
		first = first[:i]
	}
	host, _, _ := strings.Cut(first, "@")
	labels := strings.Split(strings.ToLower(host), ".")
	if len(labels) < 4 || labels[1] != "fsx" || !isFileSystemID(labels[0]) {
		return "", false
	}
	return labels[0], true
}

// isFileSystemID reports whether s looks like an AWS file system ID: "fs-" and lower-case hex digits.
func isFileSystemID(s string) bool {
	hex, ok := strings.CutPrefix(s, "fs-")
	if !ok || hex == "" {
		return false
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MountFor returns the mount holding path: the mount whose MountPoint is the longest path-prefix of the cleaned
// absolute path, compared element by element (/fsx is not a prefix of /fsx2). When several mounts share that
// mount point, the later one wins, since the kernel lists an over-mount after the mount it hides. A relative path
// holds no answer and yields false, as does a table without a mount above the path.
//
// It does not resolve symbolic links itself; callers pass filepath.EvalSymlinks'd paths when they can. It also
// does not notice a deeper mount hidden by a later over-mount of one of its parents, which mountinfo alone
// cannot tell apart cheaply and which sync targets do not meet in practice.
func MountFor(mounts []Mount, p string) (Mount, bool) {
	// The path package rather than path/filepath: mountinfo paths use '/' whatever the build target.
	if !path.IsAbs(p) {
		return Mount{}, false
	}
	p = path.Clean(p)
	best, bestLen := -1, -1
	for i, m := range mounts {
		if !path.IsAbs(m.MountPoint) {
			continue
		}
		mp := path.Clean(m.MountPoint)
		if !pathWithin(p, mp) {
			continue
		}
		if len(mp) >= bestLen {
			best, bestLen = i, len(mp)
		}
	}
	if best < 0 {
		return Mount{}, false
	}
	return mounts[best], true
}

// pathWithin reports whether the clean absolute path p is dir or lies below it.
func pathWithin(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// FindMount reads /proc/self/mountinfo and returns the mount holding path. A relative path is taken from the
// working directory, and the symbolic links of the longest existing prefix are resolved first, so that a path
// that does not exist yet (a download destination) is placed on the file system it will be created on.
func FindMount(path string) (Mount, error) {
	return findMount(mountinfoPath, path)
}

// findMount is FindMount reading the mount table from the file mountinfo, so tests can use fixtures.
func findMount(mountinfo, p string) (Mount, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return Mount{}, fmt.Errorf("finding the mount of %s: %w", p, err)
	}
	resolved := resolveExisting(abs)
	f, err := os.Open(mountinfo)
	if err != nil {
		return Mount{}, fmt.Errorf("finding the mount of %s: %w", p, err)
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return Mount{}, fmt.Errorf("finding the mount of %s: reading %s: %w", p, mountinfo, err)
	}
	m, ok := MountFor(mounts, filepath.ToSlash(resolved))
	if !ok {
		return Mount{}, fmt.Errorf("finding the mount of %s: no mount in %s holds %s", p, mountinfo, resolved)
	}
	return m, nil
}

// resolveExisting returns the absolute path abs with the symbolic links of its longest existing prefix resolved
// and the rest, which need not exist yet, appended unchanged. If nothing resolves, abs comes back as it is.
func resolveExisting(abs string) string {
	dir, rest := abs, ""
	for {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// Describe renders the mount in plain words for messages, for example
// "FSx for Lustre file system fs-0123456789abcdef0 mount name abcdefgh at /fsx",
// "NFS export server:/vol1 at /data (FSx for OpenZFS or ONTAP, or another NFS server)" or
// "local file system ext4 at /". A bind mount of a directory adds it, as in "..., directory /apps at /opt/apps".
func (m Mount) Describe() string {
	var what, hint string
	switch m.Kind {
	case MountLustre:
		switch {
		case m.LustreMountName == "" && m.LustreFSName == "":
			what = "Lustre file system " + m.Source
		case isFileSystemID(m.LustreFSName):
			what = "FSx for Lustre file system " + m.LustreFSName + " mount name " + m.LustreMountName
		default:
			what = "Lustre file system from " + m.LustreFSName + " mount name " + m.LustreMountName
			hint = "FSx for Lustre or another Lustre server"
		}
		if m.LustreSubdir != "" {
			what += ", subdirectory " + m.LustreSubdir
		}
	case MountNFS:
		if m.NFSServer == "" && m.NFSExport == "" {
			what = "NFS export " + m.Source
		} else {
			what = "NFS export " + m.NFSServer + ":" + m.NFSExport
		}
		hint = nfsHint(m.NFSServer)
	case MountLocal:
		what = "local file system " + m.FSType
	default:
		what = "file system " + m.FSType
		// Pseudo file systems repeat their type as the source ("proc proc"), which says nothing new.
		if m.Source != "" && m.Source != m.FSType {
			what += " from " + m.Source
		}
	}
	if m.Root != "" && m.Root != "/" {
		what += ", directory " + m.Root
	}
	what += " at " + m.MountPoint
	if hint != "" {
		what += " (" + hint + ")"
	}
	return what
}

// nfsHint names the AWS service behind an NFS server when its DNS name tells, and the candidates otherwise.
// FSx for OpenZFS and ONTAP names end in ".fsx.REGION.amazonaws.com", EFS names in ".efs.REGION.amazonaws.com".
func nfsHint(server string) string {
	labels := strings.Split(strings.ToLower(server), ".")
	for i := 1; i+2 < len(labels); i++ {
		if labels[i+2] != "amazonaws" {
			continue
		}
		switch labels[i] {
		case "efs":
			return "Amazon EFS"
		case "fsx":
			return "FSx for OpenZFS or ONTAP"
		}
	}
	return "FSx for OpenZFS or ONTAP, or another NFS server"
}
