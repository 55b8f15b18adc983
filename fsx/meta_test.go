package fsx

import (
	"io/fs"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestEncodeMetaGolden(t *testing.T) {
	mtime := time.Unix(1595002920, 123456789)
	tests := []struct {
		name string
		m    Meta
		want map[string]string
	}{
		{"empty", Meta{}, map[string]string{}},
		{"regular file", Meta{Mode: 0100644, UID: 1000, GID: 1001, HasUID: true, HasGID: true, Mtime: mtime, UserAgent: "fsxsync"},
			map[string]string{"file-permissions": "0100644", "file-owner": "1000", "file-group": "1001",
				"file-mtime": "1595002920123456789ns", "user-agent": "fsxsync"}},
		{"directory", Meta{Mode: 040755}, map[string]string{"file-permissions": "040755"}},
		{"symlink", Meta{Mode: 0120777}, map[string]string{"file-permissions": "0120777"}},
		{"setuid file", Meta{Mode: 0104755}, map[string]string{"file-permissions": "0104755"}},
		{"root owner", Meta{HasUID: true, HasGID: true}, map[string]string{"file-owner": "0", "file-group": "0"}},
		{"uid without HasUID", Meta{UID: 5}, map[string]string{}},
		{"atime", Meta{Atime: time.Unix(0, 1)}, map[string]string{"file-atime": "1ns"}},
		{"before the epoch", Meta{Mtime: time.Unix(-1, 0)}, map[string]string{"file-mtime": "-1000000000ns"}},
		{"the epoch", Meta{Mtime: time.Unix(0, 0)}, map[string]string{"file-mtime": "0ns"}},
		{"too late for nanoseconds", Meta{Mtime: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, map[string]string{}},
		{"too early for nanoseconds", Meta{Atime: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EncodeMeta(tt.m); !maps.Equal(got, tt.want) {
				t.Errorf("EncodeMeta(%+v) = %v; want %v", tt.m, got, tt.want)
			}
		})
	}
}

func TestDecodeMetaGolden(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want Meta
	}{
		{"nothing", nil, Meta{}},
		{"unrelated keys", map[string]string{"content-type": "x", "owner": "3"}, Meta{}},
		{"FSx regular file", map[string]string{"file-permissions": "0100644", "file-owner": "1000", "file-group": "1001",
			"file-mtime": "1595002920123456789ns", "file-atime": "1595002921000000000ns", "user-agent": "aws-fsx-lustre"},
			Meta{Mode: 0100644, UID: 1000, GID: 1001, HasUID: true, HasGID: true, Mtime: time.Unix(1595002920, 123456789),
				Atime: time.Unix(1595002921, 0), UserAgent: "aws-fsx-lustre"}},
		{"directory", map[string]string{"file-permissions": "040755"}, Meta{Mode: 040755}},
		{"symlink", map[string]string{"file-permissions": "0120777"}, Meta{Mode: 0120777}},
		{"mode without the leading zero", map[string]string{"file-permissions": "100600"}, Meta{Mode: 0100600}},
		{"milliseconds", map[string]string{"file-mtime": "1595002920123"}, Meta{Mtime: time.Unix(1595002920, 123000000)}},
		{"negative nanoseconds", map[string]string{"file-mtime": "-5ns"}, Meta{Mtime: time.Unix(0, -5)}},
		{"rclone", map[string]string{"mtime": "1595002920.5"}, Meta{Mtime: time.Unix(1595002920, 500000000)}},
		{"rclone nanoseconds", map[string]string{"mtime": "1595002920.123456789"}, Meta{Mtime: time.Unix(1595002920, 123456789)}},
		{"rclone too many digits", map[string]string{"mtime": "1595002920.1234567899"}, Meta{Mtime: time.Unix(1595002920, 123456789)}},
		{"rclone whole seconds", map[string]string{"mtime": "1595002920"}, Meta{Mtime: time.Unix(1595002920, 0)}},
		{"rclone negative", map[string]string{"mtime": "-1.25"}, Meta{Mtime: time.Unix(0, -1250000000)}},
		{"rclone exponent", map[string]string{"mtime": "1.5e9"}, Meta{Mtime: time.Unix(1500000000, 0)}},
		{"file-mtime wins over rclone", map[string]string{"file-mtime": "7ns", "mtime": "1595002920.5"}, Meta{Mtime: time.Unix(0, 7)}},
		{"prefixed and mixed case", map[string]string{"X-Amz-Meta-File-Permissions": "0100644", "File-Owner": "7", "x-amz-meta-file-group": "8"},
			Meta{Mode: 0100644, UID: 7, GID: 8, HasUID: true, HasGID: true}},
		{"same value twice", map[string]string{"file-owner": "7", "X-Amz-Meta-File-Owner": "7"}, Meta{UID: 7, HasUID: true}},
		{"empty user agent", map[string]string{"user-agent": ""}, Meta{}},
		{"largest id", map[string]string{"file-owner": "4294967295"}, Meta{UID: 4294967295, HasUID: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMeta(tt.md)
			if err != nil {
				t.Fatalf("DecodeMeta(%v): %v", tt.md, err)
			}
			if !metaEqual(got, tt.want) {
				t.Errorf("DecodeMeta(%v) = %+v; want %+v", tt.md, got, tt.want)
			}
		})
	}
}

func TestDecodeMetaMalformed(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want Meta   // the fields that could still be read
		msg  string // must appear in the error
	}{
		{"mode not octal", map[string]string{"file-permissions": "0100648"}, Meta{}, `file-permissions="0100648"`},
		{"mode empty", map[string]string{"file-permissions": ""}, Meta{}, `file-permissions=""`},
		{"mode too large", map[string]string{"file-permissions": "0200000"}, Meta{}, "file-permissions"},
		{"mode signed", map[string]string{"file-permissions": "-0100644"}, Meta{}, "file-permissions"},
		{"owner negative", map[string]string{"file-owner": "-1"}, Meta{}, `file-owner="-1"`},
		{"owner too large", map[string]string{"file-owner": "4294967296"}, Meta{}, "file-owner"},
		{"group name", map[string]string{"file-group": "staff"}, Meta{}, `file-group="staff"`},
		{"mtime text", map[string]string{"file-mtime": "yesterday"}, Meta{}, `file-mtime="yesterday"`},
		{"mtime bare suffix", map[string]string{"file-mtime": "ns"}, Meta{}, "file-mtime"},
		{"mtime overflow", map[string]string{"file-mtime": "99999999999999999999ns"}, Meta{}, "file-mtime"},
		{"mtime milliseconds overflow", map[string]string{"file-mtime": "9223372036854776"}, Meta{}, "file-mtime"},
		{"mtime with spaces", map[string]string{"file-mtime": " 5ns"}, Meta{}, "file-mtime"},
		{"atime fraction", map[string]string{"file-atime": "1.5ns"}, Meta{}, "file-atime"},
		{"rclone text", map[string]string{"mtime": "2020-07-17T16:22:00Z"}, Meta{}, "mtime="},
		{"rclone NaN", map[string]string{"mtime": "NaN"}, Meta{}, "mtime="},
		{"rclone infinite", map[string]string{"mtime": "+Inf"}, Meta{}, "mtime="},
		{"rclone overflow", map[string]string{"mtime": "9223372037.0"}, Meta{}, "mtime="},
		{"rclone float overflow", map[string]string{"mtime": "1e300"}, Meta{}, "mtime="},
		{"bad file-mtime falls back to rclone", map[string]string{"file-mtime": "x", "mtime": "10"}, Meta{Mtime: time.Unix(10, 0)}, "file-mtime"},
		{"other fields survive", map[string]string{"file-permissions": "0100644", "file-owner": "root"}, Meta{Mode: 0100644}, "file-owner"},
		{"conflicting spellings", map[string]string{"file-mtime": "1ns", "X-Amz-Meta-File-Mtime": "2ns"}, Meta{}, "conflicting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMeta(tt.md)
			if err == nil {
				t.Fatalf("DecodeMeta(%v) = %+v, nil; want an error", tt.md, got)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !metaEqual(got, tt.want) {
				t.Errorf("DecodeMeta(%v) = %+v; want %+v", tt.md, got, tt.want)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	metas := []Meta{
		{},
		{Mode: 0100644, UID: 1000, GID: 1000, HasUID: true, HasGID: true, Mtime: time.Unix(1595002920, 123456789),
			Atime: time.Unix(1595002921, 1), UserAgent: "fsxsync"},
		{Mode: 041777, HasGID: true, GID: 4294967295},
		{Mode: 0120777, Mtime: time.Unix(-100, 5)},
		{Mtime: time.Unix(0, 0)},
	}
	for _, m := range metas {
		got, err := DecodeMeta(EncodeMeta(m))
		if err != nil || !metaEqual(got, m) {
			t.Errorf("DecodeMeta(EncodeMeta(%+v)) = %+v, %v", m, got, err)
		}
	}
}

func TestStatMode(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		st   uint32
	}{
		{0644, 0100644},
		{fs.ModeDir | 0755, 040755},
		{fs.ModeSymlink | 0777, 0120777},
		{fs.ModeNamedPipe | 0600, 010600},
		{fs.ModeSocket | 0755, 0140755},
		{fs.ModeDevice | fs.ModeCharDevice | 0620, 020620},
		{fs.ModeDevice | 0660, 060660},
		{fs.ModeSetuid | 0755, 0104755},
		{fs.ModeSetgid | fs.ModeDir | 0775, 042775},
		{fs.ModeSticky | fs.ModeDir | 0777, 041777},
	}
	for _, tt := range tests {
		if got := StatMode(tt.mode); got != tt.st {
			t.Errorf("StatMode(%v) = %#o; want %#o", tt.mode, got, tt.st)
		}
		if got := FileMode(tt.st); got != tt.mode {
			t.Errorf("FileMode(%#o) = %v; want %v", tt.st, got, tt.mode)
		}
	}
	// Permissions alone, as some tools write them, mean a regular file.
	if got := FileMode(0644); got != 0644 {
		t.Errorf("FileMode(0644) = %v; want -rw-r--r--", got)
	}
	if got := FileMode(0110644); got&fs.ModeIrregular == 0 {
		t.Errorf("FileMode(0110644) = %v; want an irregular file", got)
	}
	if got := StatMode(fs.ModeIrregular | 0644); got != 0644 {
		t.Errorf("StatMode(irregular) = %#o; want 0644", got)
	}
}

// metaEqual compares metadata, with times compared as instants.
func metaEqual(a, b Meta) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.HasUID == b.HasUID && a.HasGID == b.HasGID &&
		a.Mtime.Equal(b.Mtime) && a.Atime.Equal(b.Atime) && a.UserAgent == b.UserAgent
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add("0100644", "1000", "1001", "1595002920123456789ns", "1595002921000000000ns", "aws-fsx-lustre", "", false)
	f.Add("040755", "0", "0", "1595002920123", "", "fsxsync", "", true)
	f.Add("0120777", "", "", "", "", "", "1595002920.5", false)
	f.Add("", "", "", "junk", "", "", "-1.000000001", true)
	f.Add("7777777", "-1", "x", "ns", "1e3ns", "", "1e300", false)
	f.Fuzz(func(t *testing.T, perm, owner, group, mtime, atime, agent, rclone string, prefixed bool) {
		// An empty argument leaves the key out; table tests cover empty values.
		md := map[string]string{}
		for _, kv := range [][2]string{{"file-permissions", perm}, {"file-owner", owner}, {"file-group", group},
			{"file-mtime", mtime}, {"file-atime", atime}, {"user-agent", agent}, {"mtime", rclone}} {
			if kv[1] == "" {
				continue
			}
			key := kv[0]
			if prefixed {
				key = "X-Amz-Meta-" + strings.ToUpper(key)
			}
			md[key] = kv[1]
		}
		m1, _ := DecodeMeta(md)
		enc1 := EncodeMeta(m1)
		m2, err := DecodeMeta(enc1)
		if err != nil {
			t.Fatalf("DecodeMeta(EncodeMeta(%+v)) = %v, from %v", m1, err, md)
		}
		if !metaEqual(m1, m2) {
			t.Fatalf("decode(encode(m)) = %+v; want %+v (from %v)", m2, m1, md)
		}
		if enc2 := EncodeMeta(m2); !maps.Equal(enc1, enc2) {
			t.Fatalf("encoding not stable: %v then %v (from %v)", enc1, enc2, md)
		}
	})
}
