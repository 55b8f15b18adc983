package s3store

import (
	"math/bits"
	"sync"
)

// bufPool hands out byte buffers in power-of-two size classes from 64 KiB up, and takes them back. Small objects go
// through it on both paths (the whole file read into one buffer for a single PutObject, a GetObject body copied
// through one), so a run of a million small files allocates a few dozen buffers instead of a million growing slices:
// on a 2-core node the allocation and the garbage collection of those slices cost more than the checksums.
type bufPool struct {
	classes [maxClass + 1]sync.Pool
}

const (
	minClassShift = 16 // 64 KiB
	maxClass      = 9  // 64 KiB << 9 = 32 MiB
)

// classOf is the size class holding at least n bytes, or -1 when n is larger than the largest class.
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClassShift
	if c > maxClass {
		return -1
	}
	return c
}

// get returns a buffer of length n (its capacity is its class's size). Buffers larger than every class are
// allocated and never pooled.
func (p *bufPool) get(n int) *[]byte {
	c := classOf(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if v := p.classes[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(minClassShift+c))
	return &b
}

// put returns a buffer from get.
func (p *bufPool) put(b *[]byte) {
	c := classOf(cap(*b))
	if c < 0 || cap(*b) != 1<<(minClassShift+c) {
		return
	}
	p.classes[c].Put(b)
}
