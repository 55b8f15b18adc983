package s3store

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// writesAt records the size of every WriteAt and keeps what was written.
type writesAt struct {
	data  []byte
	sizes []int
}

func (w *writesAt) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.data) {
		w.data = append(w.data, make([]byte, need-len(w.data))...)
	}
	copy(w.data[off:], p)
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// TestCopyAtFillsBuffer checks that copyAt writes whole buffers although the body hands out small reads (one TLS
// record each over HTTPS), with the data and its CRC32C intact, and that a body broken off stays an error.
func TestCopyAtFillsBuffer(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160,000 bytes
	w := &writesAt{}
	// DataErrReader returns io.EOF with the last bytes; HalfReader reads half of what is asked.
	crc, n, cut, err := copyAt(w, iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(body))), 7, make([]byte, 64<<10), true)
	if err != nil || cut || n != int64(len(body)) {
		t.Fatalf("copyAt: n %d cut %v err %v, want %d bytes", n, cut, err, len(body))
	}
	if !bytes.Equal(w.data[7:], body) || crc != crc32.Checksum(body, castagnoli) {
		t.Error("copyAt wrote other bytes or summed them wrongly")
	}
	if want := []int{64 << 10, 64 << 10, len(body) - 128<<10}; !slices.Equal(w.sizes, want) {
		t.Errorf("writes of %v bytes, want %v: the buffer is not filled before each write", w.sizes, want)
	}

	// A body that ends early with io.ErrUnexpectedEOF (net/http's report of a short body) is cut, not a clean end.
	broken := io.MultiReader(bytes.NewReader(body[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	_, n, cut, err = copyAt(&writesAt{}, broken, 0, make([]byte, 64<<10), true)
	if !cut || !errors.Is(err, io.ErrUnexpectedEOF) || n != 1000 {
		t.Errorf("broken body: n %d cut %v err %v, want 1000 bytes, cut, io.ErrUnexpectedEOF", n, cut, err)
	}
}
