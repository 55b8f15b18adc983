package s3store

import (
	"context"
	"math/big"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/fsxsync/fsxsync/transfer"
)

// A flat prefix (all its keys in one "directory", such as 100,000 numbered outputs) has no sub-prefixes to list side
// by side, and a serial listing of it is one round trip per 1,000 keys. listFlat cuts its key space into ranges
// instead, with boundaries guessed from the first page, and lists several ranges at once.
const (
	// rangeKeys is how many keys a range is meant to hold: two pages. A range usually ends with a page that runs
	// past its end, whose tail the next range lists again, so a larger range would waste fewer requests; a smaller
	// one keeps less read ahead and starts more ranges in parallel early.
	rangeKeys = 2000
	// rangePageBuffer is how many pages a range reads ahead of the consumer: a whole range, so that a range
	// waiting for its turn never holds its neighbours up.
	rangePageBuffer = 3
	// rampStart is how many ranges a flat listing starts before any has come back: each one that ends with keys
	// after it lets two more start, up to flatConcurrency, so that a prefix of a few pages is not asked for sixteen
	// ranges, most past its end.
	rampStart = 4
	// flatConcurrency is how many ranges of a flat prefix are listed at once, each with one request in flight.
	// Sixteen, where a tree's sub-prefixes get eight: a range is small and soon done, so eight ranges leave requests
	// unasked while the ranges at the front are handed over (the benchmark's no-op listing of 100,000 keys at 30 ms a
	// page took 0.76 s with eight, 0.59 s with sixteen). S3 serves thousands of requests a second per prefix, and
	// the memory is at most sixteen ranges of rangePageBuffer pages.
	flatConcurrency = 16
	// maxModelLen bounds the characters of a key (after the prefix) that keySpace models; the ones after it only
	// order keys within one boundary and do not need to be guessed.
	maxModelLen = 64
)

// keyRange is one range of a flat listing: the keys k with after < k <= end, or every key after after when end is
// empty.
type keyRange struct {
	after, end string
	pages      chan []transfer.ObjectInfo // the range's keys in order; closed when the range is done
	err        error                      // why the range failed; set before pages is closed
}

// rangeNews is what the range listers tell the planner: whether the listing reached the end of the prefix, the
// greatest key seen past a range's end, which proves every key between that range's end and it absent, and how
// many keys the ranges that ended at their end held. Every range that ends well reports held or end, and wakes the
// planner.
type rangeNews struct {
	mu        sync.Mutex
	ended     bool
	next      string
	counts    []int
	continued int           // how many ranges ended at their end, with keys after it
	wake      chan struct{} // capacity 1: a report since the planner last looked
}

func (n *rangeNews) held(count int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.counts = append(n.counts, count)
	n.continued++
	n.signal()
}

func (n *rangeNews) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *rangeNews) saw(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next = max(n.next, key)
}

func (n *rangeNews) end() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ended = true
	n.signal()
}

// read returns the news, with the counts reported since the last read.
func (n *rangeNews) read() (ended bool, next string, counts []int, continued int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	counts = n.counts
	n.counts = nil
	return n.ended, n.next, counts, n.continued
}

// listFlat sends first (the first page of a flat prefix, which had more pages after it) to out, then the rest of
// the prefix's keys in order, listed as ranges of about rangeKeys keys, flatConcurrency ranges at once. Each range
// is listed with StartAfter its lower boundary and stopped at its upper one, so every key comes exactly once however
// far a page runs past a boundary. The boundaries are guessed by keySpace; a wrong guess costs time, never a key.
func (s *Store) listFlat(ctx context.Context, prefix string, first []transfer.ObjectInfo, out chan<- []transfer.ObjectInfo) error {
	select {
	case out <- first:
	case <-ctx.Done():
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	// On the way out, stop the planner and the range listers and wait for them: none outlives listFlat.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The queue bounds the ranges started and not yet consumed: its capacity, the one being consumed and the one the
	// planner is handing over, flatConcurrency in all.
	queue := make(chan *keyRange, flatConcurrency-2)
	news := &rangeNews{wake: make(chan struct{}, 1)}
	start := func(after, end string) bool {
		r := &keyRange{after: after, end: end, pages: make(chan []transfer.ObjectInfo, rangePageBuffer)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.pages)
			r.err = s.listKeyRange(ctx, prefix, r, news)
		}()
		select {
		case queue <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		planRanges(ctx, newKeySpace(prefix, first), first[len(first)-1].Key, news, start)
	}()
	for r := range queue {
		for page := range r.pages {
			select {
			case out <- page:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if r.err != nil {
			return r.err
		}
	}
	return ctx.Err()
}

// planRanges starts the ranges that follow after, in key order, until one is open-ended or a lister has seen the
// end of the listing. Each boundary is the previous one plus a step of about rangeKeys keys in ks's numbering; past
// a stretch of key space found empty it jumps to the next key seen, and the step follows the numbers of keys the
// finished ranges held (keySpace.adapt). Without a model (ks nil) the rest is one range.
func planRanges(ctx context.Context, ks *keySpace, after string, news *rangeNews, start func(after, end string) bool) {
	if ks == nil {
		start(after, "")
		return
	}
	cur := ks.value(after)
	var n big.Int
	started := 0
	for ctx.Err() == nil {
		ended, next, counts, continued := news.read()
		if ended {
			return
		}
		for _, c := range counts {
			ks.adapt(c)
		}
		if started >= rampStart+2*continued {
			// Every range started reports when it is done, or fails, which cancels ctx: a wait here ends.
			select {
			case <-news.wake:
			case <-ctx.Done():
			}
			continue
		}
		started++
		if next > after {
			// Every key between the end of the range that saw next and next is absent: go on from next. The
			// range ends a step after it, or at it where the model has no key after it.
			end := next
			if ks.below(n.Add(ks.value(next), ks.step)) {
				end = max(end, ks.key(&n))
			}
			cur = ks.value(end)
			if !start(after, end) {
				return
			}
			after = end
			continue
		}
		if !ks.below(n.Add(cur, ks.step)) {
			start(after, "")
			return
		}
		end := ks.key(&n)
		if end <= after {
			// A key with characters the model did not foresee: list the rest in one range.
			start(after, "")
			return
		}
		cur.Set(&n)
		if !start(after, end) {
			return
		}
		after = end
	}
}

// listKeyRange lists r's keys into r.pages: from StartAfter r.after until the first key past r.end, which it reports
// to the planner, or until the listing ends.
func (s *Store) listKeyRange(ctx context.Context, prefix string, r *keyRange, news *rangeNews) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), StartAfter: aws.String(r.after),
		OptionalObjectAttributes: restoreStatus()}
	count, end, last := 0, r.end, r.after
	for {
		page, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return s.fail("list", prefix, err)
		}
		if end != "" && !ascending(page.Contents, last) {
			// A listing out of key order (a server that does not sort) cannot be cut at a boundary without losing
			// keys: this range goes on to the end of the prefix, uncut, and the disorder reaches the engine, which
			// lists again and sorts.
			end = ""
		}
		batch := make([]transfer.ObjectInfo, 0, len(page.Contents))
		past := ""
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); end != "" && k > end {
				past = k
				break
			}
			batch = append(batch, objectInfo(o))
		}
		if n := len(page.Contents); n > 0 {
			last = aws.ToString(page.Contents[n-1].Key)
		}
		count += len(batch)
		if len(batch) > 0 {
			select {
			case r.pages <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		token := aws.ToString(page.NextContinuationToken)
		switch {
		case past != "":
			news.saw(past)
			news.held(count)
			return nil
		case !aws.ToBool(page.IsTruncated):
			news.end()
			return nil
		case end != "" && len(batch) > 0 && batch[len(batch)-1].Key == end:
			// The keys after its end are the next range's.
			news.held(count)
			return nil
		case token == "":
			// The SDK's paginator takes a truncated page without a token for the end too.
			news.end()
			return nil
		}
		in.ContinuationToken = aws.String(token)
	}
}

// ascending reports whether objs's keys come after after, each after the one before.
func ascending(objs []s3types.Object, after string) bool {
	for _, o := range objs {
		k := aws.ToString(o.Key)
		if k <= after {
			return false
		}
		after = k
	}
	return true
}

// keySpace numbers the keys under a prefix so that a listing can be cut into ranges of about equal numbers of keys.
// Each character after the prefix is a digit whose alphabet is guessed from the characters the first page has in
// that position: decimal digits, hexadecimal or all letters of a case, other bytes as seen. Numbered keys
// (out-000000 to out-099999) then count in base ten and hashes in base sixteen, so that a step measured on the first
// page lands near as many keys further on. The numbering orders keys as S3 does for keys made of the alphabets'
// characters; any other key gets a nearby number, and only the balance of the ranges suffers.
type keySpace struct {
	prefix string
	alpha  [][]byte // the sorted alphabet of each position
	size   big.Int  // the product of the alphabets' sizes: the first number without a key
	step   *big.Int // how far apart boundaries are: about rangeKeys keys
	first  big.Int  // the step measured on the first page
}

// newKeySpace models the keys of first, a first page under prefix with at least two keys, or returns nil if their
// numbers do not increase.
func newKeySpace(prefix string, first []transfer.ObjectInfo) *keySpace {
	if len(first) < 2 {
		return nil
	}
	var seen [][256]bool
	for _, o := range first {
		suffix := o.Key[len(prefix):]
		for i := 0; i < len(suffix) && i < maxModelLen; i++ {
			if i == len(seen) {
				seen = append(seen, [256]bool{})
			}
			seen[i][suffix[i]] = true
		}
	}
	// A first page samples the leading positions poorly: hashes that all start with 0 to 2 still have sixteen
	// possible first characters. So where some position mixes digits and letters of a case, every position made
	// only of digits and letters takes those too.
	mixed := [256]bool{}
	for _, s := range seen {
		for _, letters := range [][2]byte{{'a', 'z'}, {'A', 'Z'}} {
			if has(s, '0', '9') && has(s, letters[0], letters[1]) {
				for c := range 256 {
					mixed[c] = mixed[c] || s[c] && (c >= '0' && c <= '9' || c >= int(letters[0]) && c <= int(letters[1]))
				}
			}
		}
	}
	ks := &keySpace{prefix: prefix}
	ks.size.SetInt64(1)
	for _, s := range seen {
		if only(s, mixed) {
			for c := range 256 {
				s[c] = s[c] || mixed[c]
			}
		}
		a := alphabet(s)
		ks.alpha = append(ks.alpha, a)
		ks.size.Mul(&ks.size, big.NewInt(int64(len(a))))
	}
	lo, hi := ks.value(first[0].Key), ks.value(first[len(first)-1].Key)
	span := new(big.Int).Sub(hi, lo)
	if span.Sign() <= 0 {
		return nil
	}
	ks.step = span.Mul(span, big.NewInt(rangeKeys))
	ks.step.Quo(ks.step, big.NewInt(int64(len(first)-1)))
	if ks.step.Sign() == 0 {
		ks.step.SetInt64(1)
	}
	ks.first.Set(ks.step)
	return ks
}

// adapt corrects the step by the count of keys a range of it held, where the keys are denser or sparser than on the
// first page: a range of more than twice rangeKeys keys shrinks it in proportion, one of fewer than a quarter (but
// some: an empty range is a gap, which the planner jumps) doubles it, up to 64 times the first step.
func (ks *keySpace) adapt(count int) {
	switch {
	case count > 2*rangeKeys:
		ks.step.Mul(ks.step, big.NewInt(rangeKeys))
		ks.step.Quo(ks.step, big.NewInt(int64(count)))
		if ks.step.Sign() == 0 {
			ks.step.SetInt64(1)
		}
	case count > 0 && count < rangeKeys/4:
		var limit big.Int
		if ks.step.Cmp(limit.Mul(&ks.first, big.NewInt(32))) <= 0 {
			ks.step.Lsh(ks.step, 1)
		}
	}
}

// alphabet widens the bytes seen in one position to the classes they belong to: a decimal digit stands for all ten;
// lower-case letters up to f for hexadecimal a-f and any other for a-z, and the same for upper case.
func alphabet(seen [256]bool) []byte {
	widen := func(lo, hi byte) {
		for c := int(lo); c <= int(hi); c++ {
			seen[c] = true
		}
	}
	if has(seen, '0', '9') {
		widen('0', '9')
	}
	for _, r := range [][2]byte{{'a', 'z'}, {'A', 'Z'}} {
		switch {
		case has(seen, r[0]+6, r[1]):
			widen(r[0], r[1])
		case has(seen, r[0], r[0]+5):
			widen(r[0], r[0]+5)
		}
	}
	var a []byte
	for c := range 256 {
		if seen[c] {
			a = append(a, byte(c))
		}
	}
	return a
}

// has reports whether seen has a byte from lo to hi.
func has(seen [256]bool, lo, hi byte) bool {
	for c := int(lo); c <= int(hi); c++ {
		if seen[c] {
			return true
		}
	}
	return false
}

// only reports whether every byte of seen is a digit or a letter, and mixed has some.
func only(seen, mixed [256]bool) bool {
	some := false
	for c := range 256 {
		if seen[c] && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
		some = some || mixed[c]
	}
	return some
}

// value is key's number: each modelled position's digit is the rank of the greatest character of its alphabet not
// above the key's character there (0 where the key is shorter or its character is below the alphabet).
func (ks *keySpace) value(key string) *big.Int {
	suffix := key[min(len(ks.prefix), len(key)):]
	v := new(big.Int)
	var radix, digit big.Int
	for i, a := range ks.alpha {
		d := 0
		if i < len(suffix) {
			for d+1 < len(a) && a[d+1] <= suffix[i] {
				d++
			}
		}
		v.Mul(v, radix.SetInt64(int64(len(a))))
		v.Add(v, digit.SetInt64(int64(d)))
	}
	return v
}

// below reports whether n is a number of the key space.
func (ks *keySpace) below(n *big.Int) bool { return n.Cmp(&ks.size) < 0 }

// key is the key numbered n (which must be below the key space's size), with the prefix: keys grow with their
// numbers.
func (ks *keySpace) key(n *big.Int) string {
	digits := make([]byte, len(ks.alpha))
	var q, r, radix big.Int
	q.Set(n)
	for i := len(ks.alpha) - 1; i >= 0; i-- {
		q.QuoRem(&q, radix.SetInt64(int64(len(ks.alpha[i]))), &r)
		digits[i] = ks.alpha[i][r.Int64()]
	}
	return ks.prefix + string(digits)
}
