package s3store

import "testing"

func TestBufPoolClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {64 << 10, 0}, {64<<10 + 1, 1}, {16<<10 + 1, 0}, {1<<20 + 1, 5}, {16 << 20, 8},
		{16<<20 + 1, 9}, {32 << 20, 9}, {32<<20 + 1, -1},
	} {
		if got := classOf(c.n); got != c.class {
			t.Errorf("classOf(%d) = %d, want %d", c.n, got, c.class)
		}
	}
	var p bufPool
	for _, n := range []int{10, 100 << 10, 40 << 20} {
		b := p.get(n)
		if len(*b) != n {
			t.Fatalf("get(%d): len %d", n, len(*b))
		}
		p.put(b)
		b2 := p.get(n)
		if len(*b2) != n || cap(*b2) < n {
			t.Fatalf("get(%d) after put: len %d cap %d", n, len(*b2), cap(*b2))
		}
	}
}
