package s3store

import (
	"bytes"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		a := make([]byte, r.IntN(5000))
		b := make([]byte, r.IntN(5000))
		for j := range a {
			a[j] = byte(r.Uint32())
		}
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		want := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		got := crc32Combine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Fatalf("combine(%d, %d bytes) = %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

func TestCRCWriterAtOutOfOrder(t *testing.T) {
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f, _ := os.Create(filepath.Join(t.TempDir(), "f"))
	defer f.Close()
	w := newCRCWriterAt(f)
	// Parts arrive out of order, each in several writes.
	for _, part := range [][2]int{{60000, 100000}, {0, 30000}, {30000, 60000}} {
		for off := part[0]; off < part[1]; off += 7000 {
			end := min(off+7000, part[1])
			w.WriteAt(data[off:end], int64(off))
		}
	}
	got, err := w.sum(int64(len(data)))
	if err != nil || got != crc32.Checksum(data, castagnoli) {
		t.Errorf("sum = %08x, %v; want %08x", got, err, crc32.Checksum(data, castagnoli))
	}
	if _, err := w.sum(int64(len(data) + 1)); err == nil {
		t.Error("a short download verified")
	}
	b, _ := os.ReadFile(f.Name())
	if !bytes.Equal(b, data) {
		t.Error("data written wrong")
	}
}
