package transfer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssBytes is this process's resident set size, from /proc/self/statm.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func openFDs() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// A sync of 200,000 small files (FSXSYNC_LOAD_FILES to change it) completes with memory flat over time and leaks
// neither goroutines nor file descriptors.
func TestLoadManySmallFiles(t *testing.T) {
	n := 200000
	if v := os.Getenv("FSXSYNC_LOAD_FILES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	root := "/dev/shm"
	if _, err := os.Stat(root); err != nil {
		root = os.TempDir()
	}
	dir, err := os.MkdirTemp(root, "fsxsync-load-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := filepath.Join(dir, "src")
	for i := 0; i < n; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%03d", i/1000), fmt.Sprintf("f%06d", i))
		if i%1000 == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err := os.WriteFile(p, []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, bucket := newStore(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(srv(t).Dir, "root", bucket)) })
	runtime.GC()
	goroutines, fds := workGoroutines(), openFDs()

	var mu sync.Mutex
	var samples []int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				samples = append(samples, rssBytes())
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	rep, err := runSyncErr(context.Background(), store, src, "s3://"+bucket+"/load", runCfg{state: filepath.Join(dir, "state")})
	close(stop)
	<-done
	if err != nil || rep.Failed.Files != 0 || rep.Transferred.Files != int64(n) {
		t.Fatalf("sync: %v, transferred %d failed %d", err, rep.Transferred.Files, rep.Failed.Files)
	}
	elapsed := time.Since(start)

	// Flat: the peak of the last half is no more than the peak of the first quarter plus a margin for the heap's
	// ups and downs; growth with the number of files would show as a climb.
	if len(samples) >= 8 {
		peak := func(s []int64) int64 {
			var m int64
			for _, v := range s {
				m = max(m, v)
			}
			return m
		}
		early, late := peak(samples[:len(samples)/4]), peak(samples[len(samples)/2:])
		t.Logf("%d files in %v (%.0f files/s); RSS peak first quarter %d MiB, last half %d MiB",
			n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), early>>20, late>>20)
		if late > early*3/2+(32<<20) {
			t.Errorf("memory grew during the run: %d MiB early, %d MiB late", early>>20, late>>20)
		}
	}
	// Leaks: give finished goroutines a moment, then compare with the start. The HTTP client keeps its idle
	// keep-alive connections (two goroutines each) for the next run; those are not leaks.
	deadline := time.Now().Add(5 * time.Second)
	for workGoroutines() > goroutines+4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := workGoroutines(); g > goroutines+4 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after (idle connections left out)\n%s", goroutines, g, buf[:runtime.Stack(buf, true)])
	}
	// Idle keep-alive connections to the server may stay open; file descriptors for files must not.
	if f := openFDs(); f > fds+64 {
		t.Errorf("file descriptors: %d before, %d after", fds, f)
	}
}

// workGoroutines counts goroutines other than the HTTP client's idle-connection readers and writers.
func workGoroutines() int {
	buf := make([]byte, 4<<20)
	stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	n := 0
	for _, s := range stacks {
		if !strings.Contains(s, "net/http.(*persistConn)") {
			n++
		}
	}
	return n
}
