package s3store

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

// crcWriterAt computes the CRC32C of a file written in parts, in any order, by several goroutines: it keeps the CRC of
// each contiguous run written so far and joins runs as they meet (crc32Combine), so nothing is read back.
type crcWriterAt struct {
	w       io.WriterAt
	mu      sync.Mutex
	byEnd   map[int64]*crcRun
	byStart map[int64]*crcRun
}

type crcRun struct {
	start, end int64
	crc        uint32
}

func newCRCWriterAt(w io.WriterAt) *crcWriterAt {
	return &crcWriterAt{w: w, byEnd: map[int64]*crcRun{}, byStart: map[int64]*crcRun{}}
}

func (c *crcWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	end := off + int64(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	run, ok := c.byEnd[off]
	if ok {
		// The usual case: the next bytes of a part. Continuing the run's CRC costs no more than computing a new one.
		delete(c.byEnd, off)
		run.crc = crc32.Update(run.crc, castagnoli, p[:n])
		run.end = end
	} else {
		run = &crcRun{start: off, end: end, crc: crc32.Checksum(p[:n], castagnoli)}
		c.byStart[off] = run
	}
	if next, ok := c.byStart[end]; ok && next != run {
		// This part reached the start of one written earlier: join them.
		delete(c.byStart, end)
		delete(c.byEnd, next.end)
		run.crc = crc32Combine(run.crc, next.crc, next.end-next.start)
		run.end = next.end
	}
	c.byEnd[run.end] = run
	return n, err
}

// sum returns the CRC32C of bytes [0, size) once they were all written exactly once.
func (c *crcWriterAt) sum(size int64) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size == 0 && len(c.byEnd) == 0 {
		return 0, nil
	}
	r, ok := c.byEnd[size]
	if !ok || r.start != 0 || len(c.byEnd) != 1 {
		return 0, fmt.Errorf("downloaded parts do not cover the object exactly (%d runs)", len(c.byEnd))
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
