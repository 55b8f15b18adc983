package fsx

import (
	"testing"
	"time"
)

// Benchmarks of the per-file hot paths outside the network: every file of a sync maps its key to a path (or back)
// and encodes or decodes its POSIX metadata. `benchstat` on their output shows a regression.

var benchKeys = []string{
	"a.dat",
	"runs/2026-11-27/run42/out/rank0001/checkpoint-000120.h5",
	"data/résumé final (v2).txt",
	"deep/" + "x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/" + "leaf.bin",
}

func BenchmarkLocalPath(b *testing.B) {
	for b.Loop() {
		for _, k := range benchKeys {
			if _, err := LocalPath("/fsx/me/tree", k); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(benchKeys))/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkKeyOf(b *testing.B) {
	for b.Loop() {
		for _, k := range benchKeys {
			_ = KeyOf(k)
		}
	}
	b.ReportMetric(float64(b.N*len(benchKeys))/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkEncodeMeta(b *testing.B) {
	m := Meta{Mode: 0o100644, UID: 1000, GID: 1000, HasUID: true, HasGID: true,
		Mtime: time.Unix(1764255600, 123456789), UserAgent: "fsxsync"}
	for b.Loop() {
		_ = EncodeMeta(m)
	}
}

func BenchmarkDecodeMeta(b *testing.B) {
	md := EncodeMeta(Meta{Mode: 0o100644, UID: 1000, GID: 1000, HasUID: true, HasGID: true,
		Mtime: time.Unix(1764255600, 123456789), UserAgent: "fsxsync"})
	for b.Loop() {
		if _, err := DecodeMeta(md); err != nil {
			b.Fatal(err)
		}
	}
}
