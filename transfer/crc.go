package transfer

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// castagnoli is the CRC32C table; hash/crc32 uses the SSE4.2/ARMv8 instructions for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcBase64 renders a CRC32C the way S3 headers carry it.
func crcBase64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// crcReader computes the CRC32C of everything read through it and calls onEOF with it at the end. Uploads use it to
// give S3 the checksum of the whole object, so that multipart objects carry a FULL_OBJECT checksum a download can
// verify, not only a composite of part checksums.
type crcReader struct {
	r     io.Reader
	crc   uint32
	onEOF func(crc uint32)
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	if err == io.EOF && c.onEOF != nil {
		c.onEOF(c.crc)
		c.onEOF = nil
	}
	return n, err
}

// crcWriterAt computes the CRC32C of a file written in parts, in any order, by several goroutines: it keeps the CRC of
// each contiguous run written so far and joins runs as they meet (crc32Combine), so nothing is read back.
type crcWriterAt struct {
	w    io.WriterAt
	mu   sync.Mutex
	runs map[int64]*crcRun // keyed by the run's end offset
}

type crcRun struct {
	start, end int64
	crc        uint32
}

func newCRCWriterAt(w io.WriterAt) *crcWriterAt {
	return &crcWriterAt{w: w, runs: map[int64]*crcRun{}}
}

func (c *crcWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	crc := crc32.Checksum(p[:n], castagnoli)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.runs[off]; ok {
		delete(c.runs, off)
		prev.crc = crc32Combine(prev.crc, crc, int64(n))
		prev.end = off + int64(n)
		c.runs[prev.end] = prev
	} else {
		c.runs[off+int64(n)] = &crcRun{start: off, end: off + int64(n), crc: crc}
	}
	c.join()
	return n, err
}

// join merges runs that became adjacent because a later part was written before an earlier one.
func (c *crcWriterAt) join() {
	for changed := true; changed; {
		changed = false
		for end, r := range c.runs {
			if prev, ok := c.runs[r.start]; ok && prev != r {
				delete(c.runs, r.start)
				delete(c.runs, end)
				prev.crc = crc32Combine(prev.crc, r.crc, r.end-r.start)
				prev.end = r.end
				c.runs[prev.end] = prev
				changed = true
				break
			}
		}
	}
}

// sum returns the CRC32C of bytes [0, size) once they were all written exactly once.
func (c *crcWriterAt) sum(size int64) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size == 0 && len(c.runs) == 0 {
		return 0, nil
	}
	r, ok := c.runs[size]
	if !ok || r.start != 0 || len(c.runs) != 1 {
		return 0, fmt.Errorf("downloaded parts do not cover the object exactly (%d runs)", len(c.runs))
	}
	return r.crc, nil
}

// crc32Combine returns the CRC of A||B from crc(A), crc(B) and len(B), for the Castagnoli polynomial (reflected
// 0x82F63B78): the zlib method of applying len(B) zero bytes to crc(A) with GF(2) matrix squaring.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = 0x82F63B78
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2MatrixSquare(even[:], odd[:]) // two zero bits
	gf2MatrixSquare(odd[:], even[:]) // four zero bits
	for {
		gf2MatrixSquare(even[:], odd[:])
		if len2&1 != 0 {
			crc1 = gf2MatrixTimes(even[:], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2MatrixSquare(odd[:], even[:])
		if len2&1 != 0 {
			crc1 = gf2MatrixTimes(odd[:], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2MatrixTimes(mat []uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2MatrixSquare(square, mat []uint32) {
	for n := 0; n < 32; n++ {
		square[n] = gf2MatrixTimes(mat, mat[n])
	}
}
