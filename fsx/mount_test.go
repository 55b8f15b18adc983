package fsx

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// mountinfoDir holds mount tables captured in the shapes fsxsync meets: a ParallelCluster head node and a
// Docker container on one.
const mountinfoDir = "testdata/mountinfo"

// readMountinfoFixture parses one fixture file.
func readMountinfoFixture(t testing.TB, name string) []Mount {
	t.Helper()
	f, err := os.Open(filepath.Join(mountinfoDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return mounts
}

// parseMountLine parses a single mountinfo line that the test expects to be well formed.
func parseMountLine(t *testing.T, line string) Mount {
	t.Helper()
	mounts, err := ParseMountinfo(strings.NewReader(line + "\n"))
	if err != nil {
		t.Fatalf("ParseMountinfo(%q): %v", line, err)
	}
	if len(mounts) != 1 {
		t.Fatalf("ParseMountinfo(%q) = %d mounts, want 1", line, len(mounts))
	}
	return mounts[0]
}

// escapeMountinfoPath is the kernel's escaping of a path field, the inverse of the strict unescapeMountinfo.
func escapeMountinfoPath(s string) string {
	return escapeMountinfoBytes(s, pathEscaped)
}

// escapeMountinfoBytes writes every byte of s found in set as a three-digit octal escape.
func escapeMountinfoBytes(s, set string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) >= 0 {
			fmt.Fprintf(&b, `\%03o`, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func TestParseMountinfoFixtures(t *testing.T) {
	const fsxSource = "fs-0a1b2c3d4e5f67890.fsx.us-east-1.amazonaws.com@tcp:/x7ab2cd"
	tests := []struct {
		file  string
		count int
		want  []Mount // checked by ID; the other lines need only parse
	}{
		{"parallelcluster-head", 19, []Mount{
			{ID: 22, ParentID: 1, Root: "/", MountPoint: "/", Options: "rw,noatime", FSType: "xfs",
				Source: "/dev/nvme0n1p1", SuperOptions: "rw,attr2,inode64,logbufs=8,logbsize=32k,sunit=1024,swidth=1024,noquota",
				Kind: MountLocal},
			{ID: 23, ParentID: 22, Root: "/", MountPoint: "/proc", Options: "rw,nosuid,nodev,noexec,relatime",
				FSType: "proc", Source: "proc", SuperOptions: "rw", Kind: MountOther},
			{ID: 62, ParentID: 22, Root: "/slurm", MountPoint: "/opt/slurm", Options: "rw,noatime", FSType: "ext4",
				Source: "/dev/nvme1n1", SuperOptions: "rw", Kind: MountLocal},
			{ID: 70, ParentID: 22, Root: "/", MountPoint: "/home", Options: "rw,relatime", FSType: "nfs4",
				Source: "fs-0123.efs.us-east-1.amazonaws.com:/",
				SuperOptions: "rw,vers=4.1,rsize=1048576,wsize=1048576,namlen=255,hard,noresvport,proto=tcp,timeo=600," +
					"retrans=2,sec=sys,clientaddr=10.0.0.12,local_lock=none,addr=10.0.1.99",
				Kind: MountNFS, NFSServer: "fs-0123.efs.us-east-1.amazonaws.com", NFSExport: "/"},
			{ID: 75, ParentID: 22, Root: "/", MountPoint: "/fsx", Options: "rw,relatime", FSType: "lustre",
				Source: fsxSource, SuperOptions: "rw,lazystatfs,flock,encrypt", Kind: MountLustre,
				LustreFSName: "fs-0a1b2c3d4e5f67890", LustreMountName: "x7ab2cd"},
			{ID: 78, ParentID: 22, Root: "/", MountPoint: "/zfs", Options: "rw,relatime", FSType: "nfs",
				Source: "fs-0abc.fsx.us-east-1.amazonaws.com:/fsx/vol1",
				SuperOptions: "rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2," +
					"sec=sys,mountaddr=10.0.2.20,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.2.20",
				Kind: MountNFS, NFSServer: "fs-0abc.fsx.us-east-1.amazonaws.com", NFSExport: "/fsx/vol1"},
			{ID: 80, ParentID: 22, Root: "/apps", MountPoint: "/opt/apps", Options: "rw,relatime", FSType: "lustre",
				Source: fsxSource, SuperOptions: "rw,lazystatfs,flock,encrypt", Kind: MountLustre,
				LustreFSName: "fs-0a1b2c3d4e5f67890", LustreMountName: "x7ab2cd"},
			{ID: 83, ParentID: 22, Root: "/", MountPoint: "/scratch", Options: "rw,nosuid,nodev,relatime",
				FSType: "tmpfs", Source: "tmpfs", SuperOptions: "rw,size=1048576k", Kind: MountLocal},
			{ID: 84, ParentID: 83, Root: "/", MountPoint: "/scratch", Options: "rw,noatime", FSType: "ext4",
				Source: "/dev/nvme2n1", SuperOptions: "rw", Kind: MountLocal},
			{ID: 86, ParentID: 22, Root: "/", MountPoint: "/mnt/my data", Options: "rw,relatime", FSType: "ext4",
				Source: "/dev/nvme3n1", SuperOptions: "rw", Kind: MountLocal},
			{ID: 87, ParentID: 22, Root: "/", MountPoint: "/mnt/tab\tdir", Options: "rw,relatime", FSType: "vfat",
				Source:       "/dev/sdb1",
				SuperOptions: "rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro",
				Kind:         MountLocal},
			{ID: 88, ParentID: 22, Root: "/", MountPoint: "/mnt/sshfs", Options: "rw,nosuid,nodev,relatime",
				FSType: "fuse.sshfs", Source: "alice@build01:/srv", SuperOptions: "rw,user_id=1000,group_id=1000",
				Kind: MountOther},
		}},
		{"docker-container", 17, []Mount{
			{ID: 512, ParentID: 437, Root: "/", MountPoint: "/", Options: "rw,relatime", FSType: "overlay",
				Source: "overlay",
				SuperOptions: "rw,lowerdir=/var/lib/docker/overlay2/l/QJ3XKZ7TFAYL2WXD4Y6VQK7A2R:" +
					"/var/lib/docker/overlay2/l/5UOB7QW3YJ4V6CNMXKZ2FXTPLM," +
					"upperdir=/var/lib/docker/overlay2/9f3c1d0e7b2a/diff," +
					"workdir=/var/lib/docker/overlay2/9f3c1d0e7b2a/work,nouserxattr",
				Kind: MountLocal},
			{ID: 519, ParentID: 514, Root: "/", MountPoint: "/dev/shm", Options: "rw,nosuid,nodev,noexec,relatime",
				FSType: "tmpfs", Source: "shm", SuperOptions: "rw,size=65536k,inode64", Kind: MountLocal},
			{ID: 522, ParentID: 512, Root: "/var/lib/docker/containers/9f3c1d0e7b2a/hosts", MountPoint: "/etc/hosts",
				Options: "rw,noatime", FSType: "xfs", Source: "/dev/nvme0n1p1", SuperOptions: "rw,attr2,inode64,noquota",
				Kind: MountLocal},
			{ID: 523, ParentID: 512, Root: "/", MountPoint: "/fsx", Options: "rw,relatime", FSType: "lustre",
				Source: "172.31.0.10@tcp:/x7ab2cd", SuperOptions: "rw,lazystatfs,flock", Kind: MountLustre,
				LustreFSName: "172.31.0.10@tcp", LustreMountName: "x7ab2cd"},
			{ID: 524, ParentID: 512, Root: "/projects/run42", MountPoint: "/data", Options: "rw,relatime",
				FSType: "lustre", Source: "172.31.0.10@tcp:/x7ab2cd", SuperOptions: "rw,lazystatfs,flock",
				Kind: MountLustre, LustreFSName: "172.31.0.10@tcp", LustreMountName: "x7ab2cd"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			mounts := readMountinfoFixture(t, tt.file)
			if len(mounts) != tt.count {
				t.Fatalf("%d mounts, want %d", len(mounts), tt.count)
			}
			byID := map[int]Mount{}
			for _, m := range mounts {
				if _, dup := byID[m.ID]; dup {
					t.Fatalf("mount ID %d appears twice", m.ID)
				}
				byID[m.ID] = m
			}
			for _, want := range tt.want {
				got, ok := byID[want.ID]
				if !ok {
					t.Errorf("no mount with ID %d", want.ID)
					continue
				}
				if got != want {
					t.Errorf("mount %d:\n got %+v\nwant %+v", want.ID, got, want)
				}
			}
		})
	}
}

func TestParseMountinfoLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Mount
	}{
		{"proc(5) example", "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			Mount{ID: 36, ParentID: 35, Root: "/mnt1", MountPoint: "/mnt2", Options: "rw,noatime", FSType: "ext3",
				Source: "/dev/root", SuperOptions: "rw,errors=continue", Kind: MountLocal}},
		{"no optional fields", "1 0 254:0 / / rw - ext4 /dev/vda rw",
			Mount{ID: 1, Root: "/", MountPoint: "/", Options: "rw", FSType: "ext4", Source: "/dev/vda",
				SuperOptions: "rw", Kind: MountLocal}},
		{"several optional fields", "40 1 0:40 / /m rw shared:5 master:1 propagate_from:2 unbindable - xfs /dev/x rw",
			Mount{ID: 40, ParentID: 1, Root: "/", MountPoint: "/m", Options: "rw", FSType: "xfs", Source: "/dev/x",
				SuperOptions: "rw", Kind: MountLocal}},
		{"every path escape", `41 1 0:41 /a\040b\011c /mnt/x\012y\134z rw - ext4 /dev/vdb rw`,
			Mount{ID: 41, ParentID: 1, Root: "/a b\tc", MountPoint: "/mnt/x\ny\\z", Options: "rw", FSType: "ext4",
				Source: "/dev/vdb", SuperOptions: "rw", Kind: MountLocal}},
		{"escape at the very end", `42 1 0:42 / /mnt/trailing\040 rw - ext4 /dev/vdc rw`,
			Mount{ID: 42, ParentID: 1, Root: "/", MountPoint: "/mnt/trailing ", Options: "rw", FSType: "ext4",
				Source: "/dev/vdc", SuperOptions: "rw", Kind: MountLocal}},
		{"unicode and a literal hash in a path", "43 1 0:43 / /mnt/日本#1 rw - ext4 /dev/vdd rw",
			Mount{ID: 43, ParentID: 1, Root: "/", MountPoint: "/mnt/日本#1", Options: "rw", FSType: "ext4",
				Source: "/dev/vdd", SuperOptions: "rw", Kind: MountLocal}},
		{"escaped hash in a source (Linux 6.0 and later)", `44 1 0:44 / /t rw - tmpfs my\043tmp rw`,
			Mount{ID: 44, ParentID: 1, Root: "/", MountPoint: "/t", Options: "rw", FSType: "tmpfs", Source: "my#tmp",
				SuperOptions: "rw", Kind: MountLocal}},
		{"literal hash in a source (before Linux 6.0)", `44 1 0:44 / /t rw - tmpfs my#tmp rw`,
			Mount{ID: 44, ParentID: 1, Root: "/", MountPoint: "/t", Options: "rw", FSType: "tmpfs", Source: "my#tmp",
				SuperOptions: "rw", Kind: MountLocal}},
		{"empty source", "45 1 0:45 / /e rw - tmpfs  rw,size=4k",
			Mount{ID: 45, ParentID: 1, Root: "/", MountPoint: "/e", Options: "rw", FSType: "tmpfs",
				SuperOptions: "rw,size=4k", Kind: MountLocal}},
		{"namespace file root", "46 28 0:4 net:[4026532281] /run/netns/blue rw shared:7 - nsfs nsfs rw",
			Mount{ID: 46, ParentID: 28, Root: "net:[4026532281]", MountPoint: "/run/netns/blue", Options: "rw",
				FSType: "nsfs", Source: "nsfs", SuperOptions: "rw", Kind: MountOther}},
		{"deleted root and mount point", `47 1 0:47 /f//deleted /tmp/x\040(deleted) rw - ext4 /dev/vde rw`,
			Mount{ID: 47, ParentID: 1, Root: "/f//deleted", MountPoint: "/tmp/x (deleted)", Options: "rw",
				FSType: "ext4", Source: "/dev/vde", SuperOptions: "rw", Kind: MountLocal}},
		{"super options with an unescaped space", "48 1 0:48 / /odd rw - weirdfs src rw,label=a b",
			Mount{ID: 48, ParentID: 1, Root: "/", MountPoint: "/odd", Options: "rw", FSType: "weirdfs", Source: "src",
				SuperOptions: "rw,label=a b", Kind: MountOther}},
		{"carriage return kept", "49 1 0:49 / /cr rw - ext4 /dev/vdf rw\r",
			Mount{ID: 49, ParentID: 1, Root: "/", MountPoint: "/cr", Options: "rw", FSType: "ext4", Source: "/dev/vdf",
				SuperOptions: "rw\r", Kind: MountLocal}},
		{"lustre by IP NID", "50 1 0:50 / /fsx rw - lustre 172.31.0.10@tcp:/abcdefgh rw,flock",
			Mount{ID: 50, ParentID: 1, Root: "/", MountPoint: "/fsx", Options: "rw", FSType: "lustre",
				Source: "172.31.0.10@tcp:/abcdefgh", SuperOptions: "rw,flock", Kind: MountLustre,
				LustreFSName: "172.31.0.10@tcp", LustreMountName: "abcdefgh"}},
		{"lustre failover NIDs", "51 1 0:51 / /lfs rw - lustre 10.0.0.1@tcp,10.0.0.2@o2ib:10.0.0.3@tcp:/lfs rw",
			Mount{ID: 51, ParentID: 1, Root: "/", MountPoint: "/lfs", Options: "rw", FSType: "lustre",
				Source: "10.0.0.1@tcp,10.0.0.2@o2ib:10.0.0.3@tcp:/lfs", SuperOptions: "rw", Kind: MountLustre,
				LustreFSName: "10.0.0.1@tcp,10.0.0.2@o2ib:10.0.0.3@tcp", LustreMountName: "lfs"}},
		{"lustre FSx DNS failover", "52 1 0:52 / /fsx rw - lustre " +
			"fs-0123456789abcdef0.fsx.eu-west-1.amazonaws.com@tcp:b@tcp:/abcdefgh rw",
			Mount{ID: 52, ParentID: 1, Root: "/", MountPoint: "/fsx", Options: "rw", FSType: "lustre",
				Source: "fs-0123456789abcdef0.fsx.eu-west-1.amazonaws.com@tcp:b@tcp:/abcdefgh", SuperOptions: "rw",
				Kind: MountLustre, LustreFSName: "fs-0123456789abcdef0", LustreMountName: "abcdefgh"}},
		{"lustre FSx DNS in China, upper case", "53 1 0:53 / /fsx rw - lustre " +
			"FS-0123456789ABCDEF0.FSX.cn-north-1.amazonaws.com.cn@tcp:/abcdefgh rw",
			Mount{ID: 53, ParentID: 1, Root: "/", MountPoint: "/fsx", Options: "rw", FSType: "lustre",
				Source: "FS-0123456789ABCDEF0.FSX.cn-north-1.amazonaws.com.cn@tcp:/abcdefgh", SuperOptions: "rw",
				Kind: MountLustre, LustreFSName: "fs-0123456789abcdef0", LustreMountName: "abcdefgh"}},
		{"lustre subdirectory mount", "54 1 0:54 / /proj rw - lustre 172.31.0.10@tcp:/abcdefgh/projects/a/ rw",
			Mount{ID: 54, ParentID: 1, Root: "/", MountPoint: "/proj", Options: "rw", FSType: "lustre",
				Source: "172.31.0.10@tcp:/abcdefgh/projects/a/", SuperOptions: "rw", Kind: MountLustre,
				LustreFSName: "172.31.0.10@tcp", LustreMountName: "abcdefgh", LustreSubdir: "/projects/a"}},
		{"lustre mount name with a trailing slash", "55 1 0:55 / /l rw - lustre n@tcp:/abcdefgh/ rw",
			Mount{ID: 55, ParentID: 1, Root: "/", MountPoint: "/l", Options: "rw", FSType: "lustre",
				Source: "n@tcp:/abcdefgh/", SuperOptions: "rw", Kind: MountLustre,
				LustreFSName: "n@tcp", LustreMountName: "abcdefgh"}},
		{"lustre source without a mount name", "56 1 0:56 / /l rw - lustre weird rw",
			Mount{ID: 56, ParentID: 1, Root: "/", MountPoint: "/l", Options: "rw", FSType: "lustre", Source: "weird",
				SuperOptions: "rw", Kind: MountLustre}},
		{"fs- prefix but not an FSx name", "57 1 0:57 / /l rw - lustre fs-0123.example.com@tcp:/m rw",
			Mount{ID: 57, ParentID: 1, Root: "/", MountPoint: "/l", Options: "rw", FSType: "lustre",
				Source: "fs-0123.example.com@tcp:/m", SuperOptions: "rw", Kind: MountLustre,
				LustreFSName: "fs-0123.example.com@tcp", LustreMountName: "m"}},
		{"NFS over IPv6", "58 1 0:58 / /v6 rw - nfs4 [fd00::1]:/exports/x rw,vers=4.2",
			Mount{ID: 58, ParentID: 1, Root: "/", MountPoint: "/v6", Options: "rw", FSType: "nfs4",
				Source: "[fd00::1]:/exports/x", SuperOptions: "rw,vers=4.2", Kind: MountNFS,
				NFSServer: "[fd00::1]", NFSExport: "/exports/x"}},
		{"NFS from FSx for ONTAP", "59 1 0:59 / /ontap rw - nfs " +
			"svm-0123456789abcdef0.fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com:/vol1 rw,vers=3",
			Mount{ID: 59, ParentID: 1, Root: "/", MountPoint: "/ontap", Options: "rw", FSType: "nfs",
				Source:       "svm-0123456789abcdef0.fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com:/vol1",
				SuperOptions: "rw,vers=3", Kind: MountNFS,
				NFSServer: "svm-0123456789abcdef0.fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com", NFSExport: "/vol1"}},
		{"NFS source without an export", "60 1 0:60 / /n rw - nfs server: rw",
			Mount{ID: 60, ParentID: 1, Root: "/", MountPoint: "/n", Options: "rw", FSType: "nfs", Source: "server:",
				SuperOptions: "rw", Kind: MountNFS}},
		{"escaped space in an NFS export", `61 1 0:61 / /n rw - nfs4 srv:/my\040export rw`,
			Mount{ID: 61, ParentID: 1, Root: "/", MountPoint: "/n", Options: "rw", FSType: "nfs4",
				Source: "srv:/my export", SuperOptions: "rw", Kind: MountNFS, NFSServer: "srv", NFSExport: "/my export"}},
		{"large IDs", "2147483647 2147483646 259:1048575 / /big rw - ext4 /dev/big rw",
			Mount{ID: 2147483647, ParentID: 2147483646, Root: "/", MountPoint: "/big", Options: "rw", FSType: "ext4",
				Source: "/dev/big", SuperOptions: "rw", Kind: MountLocal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseMountLine(t, tt.line); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	const good = "1 0 254:0 / / rw - ext4 /dev/vda rw"
	tests := []struct {
		name     string
		input    string
		wantLine int
		wantText string // part of the error message after the line number
	}{
		{"too few fields", "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root", 1, "fields, want at least 10"},
		{"no separator", "36 35 98:0 /mnt1 /mnt2 rw master:1 ext3 /dev/root rw", 1, `no "-" field`},
		{"separator too late", "36 35 98:0 / / rw a b c - ext3 x", 1, `fewer than three fields after "-"`},
		{"separator only as the root", "36 35 98:0 - /m rw a b c d e", 1, `no "-" field`},
		{"word ID", "x 35 98:0 / / rw - ext3 /dev/root rw", 1, "mount ID"},
		{"negative ID", "-1 35 98:0 / / rw - ext3 /dev/root rw", 1, "mount ID"},
		{"signed parent ID", "36 +35 98:0 / / rw - ext3 /dev/root rw", 1, "parent ID"},
		{"ID too large", "99999999999999999999999 35 98:0 / / rw - ext3 /dev/root rw", 1, "mount ID"},
		{"device without colon", "36 35 98-0 / / rw - ext3 /dev/root rw", 1, "device"},
		{"device without minor", "36 35 98: / / rw - ext3 /dev/root rw", 1, "device"},
		{"short escape", `36 35 98:0 / /a\04 rw - ext3 /dev/root rw`, 1, "mount point"},
		{"escape out of byte range", `36 35 98:0 / /a\400 rw - ext3 /dev/root rw`, 1, "mount point"},
		{"non-octal escape", `36 35 98:0 / /a\090 rw - ext3 /dev/root rw`, 1, "mount point"},
		{"hex escape", `36 35 98:0 / /a\x20 rw - ext3 /dev/root rw`, 1, "mount point"},
		{"trailing backslash", `36 35 98:0 /r\ / rw - ext3 /dev/root rw`, 1, "root"},
		{"escape the kernel never writes in a path", `36 35 98:0 / /\101 rw - ext3 /dev/root rw`, 1,
			"not one the kernel writes"},
		{"escaped hash in a path", `36 35 98:0 / /a\043 rw - ext3 /dev/root rw`, 1, "not one the kernel writes"},
		{"literal tab in a path", "36 35 98:0 / /a\tb rw - ext3 /dev/root rw", 1, "unescaped tab"},
		{"bad escape in the source", `36 35 98:0 / / rw - ext3 /dev/ro\ot rw`, 1, "mount source"},
		{"bad escape in the type", `36 35 98:0 / / rw - ext\3 /dev/root rw`, 1, "file system type"},
		{"empty mount point", "36 35 98:0 /  rw - ext3 /dev/root rw", 1, "empty root, mount point or options"},
		{"empty type", "36 35 98:0 / / rw -  /dev/root rw", 1, "empty file system type"},
		{"leading space", " " + good, 1, "mount ID"},
		{"white space only", "   ", 1, "fields, want at least 10"},
		{"counted after good and blank lines", good + "\n\n" + good + "\ngarbage\n" + good + "\n", 4, "fields"},
		{"last line without a newline", good + "\n" + "1 0 254:0 / /", 2, "fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mounts, err := ParseMountinfo(strings.NewReader(tt.input))
			if err == nil {
				t.Fatalf("ParseMountinfo(%q) = %+v, want an error", tt.input, mounts)
			}
			var merr *MountinfoError
			if !errors.As(err, &merr) {
				t.Fatalf("error %v (%T) is not a *MountinfoError", err, err)
			}
			if merr.Line != tt.wantLine {
				t.Errorf("error on line %d, want line %d: %v", merr.Line, tt.wantLine, err)
			}
			if prefix := fmt.Sprintf("mountinfo line %d: ", tt.wantLine); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

func TestParseMountinfoEmpty(t *testing.T) {
	for _, input := range []string{"", "\n", "\n\n\n"} {
		mounts, err := ParseMountinfo(strings.NewReader(input))
		if err != nil || len(mounts) != 0 {
			t.Errorf("ParseMountinfo(%q) = %v, %v; want no mounts and no error", input, mounts, err)
		}
	}
}

func TestMountFor(t *testing.T) {
	tests := []struct {
		file   string
		path   string
		wantID int // 0 when no mount may be found
	}{
		{"parallelcluster-head", "/", 22},
		{"parallelcluster-head", "/fsx", 75},
		{"parallelcluster-head", "/fsx/", 75},
		{"parallelcluster-head", "/fsx/a/b", 75},
		{"parallelcluster-head", "//fsx///a/./b", 75},
		{"parallelcluster-head", "/fsx2/x", 22},
		{"parallelcluster-head", "/fsx2", 22},
		{"parallelcluster-head", "/fs", 22},
		{"parallelcluster-head", "/fsx/../home/alice", 70},
		{"parallelcluster-head", "/home/alice/.bashrc", 70},
		{"parallelcluster-head", "/zfs/vol1/data", 78},
		{"parallelcluster-head", "/opt/apps/bin/tool", 80},
		{"parallelcluster-head", "/opt/application", 22},
		{"parallelcluster-head", "/opt/slurm/etc/slurm.conf", 62},
		{"parallelcluster-head", "/opt/parallelcluster/shared/x", 61},
		{"parallelcluster-head", "/scratch", 84},
		{"parallelcluster-head", "/scratch/job1/out", 84},
		{"parallelcluster-head", "/mnt/my data/f", 86},
		{"parallelcluster-head", "/mnt/my data", 86},
		{"parallelcluster-head", "/mnt/my", 22},
		{"parallelcluster-head", "/mnt/my data2/f", 22},
		{"parallelcluster-head", "/mnt/tab\tdir/x", 87},
		{"parallelcluster-head", "/mnt/tab", 22},
		{"parallelcluster-head", "/dev/shm/x", 26},
		{"parallelcluster-head", "/dev/shmx", 25},
		{"parallelcluster-head", "/sys/fs/cgroup/memory.max", 29},
		{"parallelcluster-head", "fsx/a", 0},
		{"parallelcluster-head", "", 0},
		{"parallelcluster-head", ".", 0},
		{"docker-container", "/", 512},
		{"docker-container", "/tmp/work", 512},
		{"docker-container", "/fsx/alice/run42", 523},
		{"docker-container", "/data/out/part-0", 524},
		{"docker-container", "/etc/hosts", 522},
		{"docker-container", "/etc/hostsx", 512},
		{"docker-container", "/proc/sys/kernel/hostname", 439},
		{"docker-container", "/proc/self/status", 513},
		{"docker-container", "/dev/shm/sem", 519},
	}
	fixtures := map[string][]Mount{}
	for _, tt := range tests {
		mounts, ok := fixtures[tt.file]
		if !ok {
			mounts = readMountinfoFixture(t, tt.file)
			fixtures[tt.file] = mounts
		}
		got, ok := MountFor(mounts, tt.path)
		switch {
		case tt.wantID == 0 && ok:
			t.Errorf("%s: MountFor(%q) = mount %d at %q, want none", tt.file, tt.path, got.ID, got.MountPoint)
		case tt.wantID != 0 && !ok:
			t.Errorf("%s: MountFor(%q) found no mount, want mount %d", tt.file, tt.path, tt.wantID)
		case got.ID != tt.wantID:
			t.Errorf("%s: MountFor(%q) = mount %d at %q, want mount %d", tt.file, tt.path, got.ID, got.MountPoint,
				tt.wantID)
		}
	}
}

func TestMountForEdges(t *testing.T) {
	noRoot := []Mount{
		{ID: 1, MountPoint: "/fsx"},
		{ID: 2, MountPoint: "relative"},
		{ID: 3, MountPoint: ""},
		{ID: 4, MountPoint: "/data/"},
	}
	tests := []struct {
		mounts []Mount
		path   string
		wantID int // 0 when no mount may be found
	}{
		{noRoot, "/elsewhere", 0},
		{noRoot, "/", 0},
		{noRoot, "/fsx/x", 1},
		{noRoot, "/relative/x", 0},
		{noRoot, "/data/x", 4},
		{noRoot, "/data", 4},
		{nil, "/", 0},
		// Three stacked mounts on one point: the last listed is on top.
		{[]Mount{{ID: 1, MountPoint: "/"}, {ID: 2, MountPoint: "/s"}, {ID: 3, MountPoint: "/s"},
			{ID: 4, MountPoint: "/s"}}, "/s/f", 4},
		// A deeper mount wins over a later shallower one.
		{[]Mount{{ID: 1, MountPoint: "/a/b"}, {ID: 2, MountPoint: "/a"}}, "/a/b/c", 1},
		// Two spellings of the root are one mount point; the later wins.
		{[]Mount{{ID: 1, MountPoint: "/"}, {ID: 2, MountPoint: "//"}}, "/x", 2},
	}
	for _, tt := range tests {
		got, ok := MountFor(tt.mounts, tt.path)
		if ok != (tt.wantID != 0) || got.ID != tt.wantID {
			t.Errorf("MountFor(%+v, %q) = mount %d, %v; want mount %d", tt.mounts, tt.path, got.ID, ok, tt.wantID)
		}
	}
}

func TestMountKindOf(t *testing.T) {
	tests := []struct {
		fsType string
		want   MountKind
	}{
		{"lustre", MountLustre},
		{"nfs", MountNFS},
		{"nfs4", MountNFS},
		{"ext2", MountLocal},
		{"ext3", MountLocal},
		{"ext4", MountLocal},
		{"xfs", MountLocal},
		{"btrfs", MountLocal},
		{"zfs", MountLocal},
		{"vfat", MountLocal},
		{"tmpfs", MountLocal},
		{"overlay", MountLocal},
		{"fuse.sshfs", MountOther},
		{"fuse.s3fs", MountOther},
		{"fuse", MountOther},
		{"proc", MountOther},
		{"cgroup2", MountOther},
		{"cifs", MountOther},
		{"Lustre", MountOther},
		{"", MountOther},
	}
	for _, tt := range tests {
		if got := mountKindOf(tt.fsType); got != tt.want {
			t.Errorf("mountKindOf(%q) = %q, want %q", tt.fsType, got, tt.want)
		}
	}
}

func TestMountDescribe(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"75 22 0:50 / /fsx rw - lustre fs-0a1b2c3d4e5f67890.fsx.us-east-1.amazonaws.com@tcp:/x7ab2cd rw",
			"FSx for Lustre file system fs-0a1b2c3d4e5f67890 mount name x7ab2cd at /fsx"},
		{"80 22 0:50 /apps /opt/apps rw - lustre fs-0a1b2c3d4e5f67890.fsx.us-east-1.amazonaws.com@tcp:/x7ab2cd rw",
			"FSx for Lustre file system fs-0a1b2c3d4e5f67890 mount name x7ab2cd, directory /apps at /opt/apps"},
		{"50 1 0:50 / /fsx rw - lustre 172.31.0.10@tcp:/abcdefgh rw",
			"Lustre file system from 172.31.0.10@tcp mount name abcdefgh at /fsx (FSx for Lustre or another Lustre server)"},
		{"54 1 0:54 / /proj rw - lustre fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh/projects rw",
			"FSx for Lustre file system fs-0123456789abcdef0 mount name abcdefgh, subdirectory /projects at /proj"},
		{"56 1 0:56 / /l rw - lustre weird rw", "Lustre file system weird at /l"},
		{"1 0 0:1 / /data rw - nfs server:/vol1 rw",
			"NFS export server:/vol1 at /data (FSx for OpenZFS or ONTAP, or another NFS server)"},
		{"78 22 0:52 / /zfs rw - nfs fs-0abc.fsx.us-east-1.amazonaws.com:/fsx/vol1 rw",
			"NFS export fs-0abc.fsx.us-east-1.amazonaws.com:/fsx/vol1 at /zfs (FSx for OpenZFS or ONTAP)"},
		{"59 1 0:59 / /ontap rw - nfs svm-01.fs-01.fsx.us-west-2.amazonaws.com:/vol1 rw",
			"NFS export svm-01.fs-01.fsx.us-west-2.amazonaws.com:/vol1 at /ontap (FSx for OpenZFS or ONTAP)"},
		{"70 22 0:45 / /home rw - nfs4 fs-0123.efs.us-east-1.amazonaws.com:/ rw",
			"NFS export fs-0123.efs.us-east-1.amazonaws.com:/ at /home (Amazon EFS)"},
		{"71 22 0:46 / /efs rw - nfs4 127.0.0.1:/ rw,port=20049",
			"NFS export 127.0.0.1:/ at /efs (FSx for OpenZFS or ONTAP, or another NFS server)"},
		{"60 1 0:60 / /n rw - nfs server: rw",
			"NFS export server: at /n (FSx for OpenZFS or ONTAP, or another NFS server)"},
		{"27 1 254:0 / / rw - ext4 /dev/vda rw", "local file system ext4 at /"},
		{`86 22 259:8 / /mnt/my\040data rw - ext4 /dev/nvme3n1 rw`, "local file system ext4 at /mnt/my data"},
		{"62 22 259:5 /slurm /opt/slurm rw - ext4 /dev/nvme1n1 rw",
			"local file system ext4, directory /slurm at /opt/slurm"},
		{"512 437 0:190 / / rw - overlay overlay rw,lowerdir=/l", "local file system overlay at /"},
		{"88 22 0:62 / /mnt/sshfs rw - fuse.sshfs alice@build01:/srv rw",
			"file system fuse.sshfs from alice@build01:/srv at /mnt/sshfs"},
		{"23 22 0:21 / /proc rw - proc proc rw", "file system proc at /proc"},
		{"45 1 0:45 / /e rw - weirdfs  rw", "file system weirdfs at /e"},
	}
	for _, tt := range tests {
		if got := parseMountLine(t, tt.line).Describe(); got != tt.want {
			t.Errorf("Describe of %q:\n got %q\nwant %q", tt.line, got, tt.want)
		}
	}
}

func TestFindMountThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mountinfo is Linux only")
	}
	for _, p := range []string{"/", os.TempDir()} {
		m, err := FindMount(p)
		if err != nil {
			t.Errorf("FindMount(%q): %v", p, err)
			continue
		}
		if m.FSType == "" || !path.IsAbs(m.MountPoint) {
			t.Errorf("FindMount(%q) = %+v, want a type and an absolute mount point", p, m)
		}
		t.Logf("%s: %s", p, m.Describe())
	}
}

func TestFindMountFixture(t *testing.T) {
	fixture := filepath.Join(mountinfoDir, "parallelcluster-head")

	// A download destination that does not exist yet still lands on the file system of its existing prefix.
	m, err := findMount(fixture, "/fsx/alice/new-dir/out.dat")
	if err != nil || m.ID != 75 {
		t.Errorf("findMount(/fsx/alice/new-dir/out.dat) = mount %d, %v; want mount 75", m.ID, err)
	}

	// A symbolic link is followed to the mount its target is on.
	if _, err := os.Stat("/proc/self"); err == nil {
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink("/proc", link); err != nil {
			t.Fatal(err)
		}
		m, err := findMount(fixture, filepath.Join(link, "self", "status"))
		if err != nil || m.ID != 23 {
			t.Errorf("findMount through a link to /proc = mount %d, %v; want mount 23", m.ID, err)
		}
	}

	dir := t.TempDir()
	writeFile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noRoot := writeFile("no-root", "75 22 0:50 / /fsx rw - lustre n@tcp:/m rw\n")
	if _, err := findMount(noRoot, "/elsewhere/x"); err == nil || !strings.Contains(err.Error(), "no mount") {
		t.Errorf("findMount with no mount above the path: error %v, want one saying no mount holds it", err)
	}
	malformed := writeFile("malformed", "75 22 0:50 / /fsx rw - lustre n@tcp:/m rw\nbroken\n")
	var merr *MountinfoError
	if _, err := findMount(malformed, "/fsx"); !errors.As(err, &merr) || merr.Line != 2 {
		t.Errorf("findMount with a malformed table: error %v, want a *MountinfoError for line 2", err)
	}
	if _, err := findMount(filepath.Join(dir, "missing"), "/"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("findMount with no table: error %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestResolveExisting(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
	}{
		{filepath.Join(dir, "link"), target},
		{filepath.Join(dir, "link", "sub"), filepath.Join(target, "sub")},
		{filepath.Join(dir, "link", "sub", "new", "file"), filepath.Join(target, "sub", "new", "file")},
		{filepath.Join(dir, "link", "missing"), filepath.Join(target, "missing")},
		// A dangling link cannot be followed, so it stays in the path as written.
		{filepath.Join(dir, "dangling", "x"), filepath.Join(dir, "dangling", "x")},
		{filepath.Join(dir, "target", "sub"), filepath.Join(target, "sub")},
		{"/", "/"},
	}
	for _, tt := range tests {
		if got := resolveExisting(tt.in); got != tt.want {
			t.Errorf("resolveExisting(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	entries, err := os.ReadDir(mountinfoDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(mountinfoDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
	f.Add(`41 1 0:41 /a\040b\011c /mnt/x\012y\134z rw shared:1 - ext4 my\043src\040x rw` + "\n")
	f.Add("45 1 0:45 / /e rw - tmpfs  rw\n\n50 1 0:50 / /fsx rw - lustre a@tcp,b@o2ib:c@tcp:/m/sub/ rw\r")
	f.Add("58 1 0:58 / /v6 rw - nfs4 [fd00::1]:/exports/x rw\n1 0 254:0 / / rw - ext4 /dev/vda rw x y")
	f.Add(`1 0 1:1 / /\1 rw - x y z`)
	f.Fuzz(func(t *testing.T, data string) {
		mounts, err := ParseMountinfo(strings.NewReader(data))
		if err != nil {
			var merr *MountinfoError
			if !errors.As(err, &merr) {
				t.Fatalf("error %v (%T) is not a *MountinfoError", err, err)
			}
			if lines := strings.Count(data, "\n") + 1; merr.Line < 1 || merr.Line > lines {
				t.Fatalf("error names line %d of %d: %v", merr.Line, lines, err)
			}
			return
		}
		// The parser skips empty lines, so mount i comes from the i-th non-empty line.
		var lines []string
		for _, line := range strings.Split(data, "\n") {
			if line != "" {
				lines = append(lines, line)
			}
		}
		if len(mounts) != len(lines) {
			t.Fatalf("%d mounts from %d non-empty lines", len(mounts), len(lines))
		}
		for i, m := range mounts {
			fields := strings.Split(lines[i], " ")
			if got := escapeMountinfoPath(m.Root); got != fields[3] {
				t.Fatalf("line %q: root %q re-encodes to %q, want %q", lines[i], m.Root, got, fields[3])
			}
			if got := escapeMountinfoPath(m.MountPoint); got != fields[4] {
				t.Fatalf("line %q: mount point %q re-encodes to %q, want %q", lines[i], m.MountPoint, got, fields[4])
			}
			// Sources and types accept any octal escape, so only check that escaping them decodes back.
			for _, s := range []string{m.Source, m.FSType} {
				back, err := unescapeMountinfo(escapeMountinfoBytes(s, pathEscaped+"#"), false)
				if err != nil || back != s {
					t.Fatalf("%q escapes and decodes to %q, %v", s, back, err)
				}
			}
			if m.Kind != mountKindOf(m.FSType) {
				t.Fatalf("mount %+v has kind %q, want %q", m, m.Kind, mountKindOf(m.FSType))
			}
			_ = m.Describe()
			// A mount point is held by a mount at that same point, whichever of them is listed last.
			if path.IsAbs(m.MountPoint) {
				got, ok := MountFor(mounts, m.MountPoint)
				if !ok || path.Clean(got.MountPoint) != path.Clean(m.MountPoint) {
					t.Fatalf("MountFor(%q) = %+v, %v; want a mount at that point", m.MountPoint, got, ok)
				}
			}
		}
	})
}
