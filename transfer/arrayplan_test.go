package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writePlan stands in for Plan: it writes one file into the generation directory.
func writePlan(calls *atomic.Int32, delay time.Duration) func(context.Context, string) error {
	return func(ctx context.Context, dir string) error {
		calls.Add(1)
		time.Sleep(delay)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o644)
	}
}

// Eight tasks arriving together: one plans, all run the same manifest.
func TestArrayPlanOnePlanner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meet")
	var calls atomic.Int32
	var wg sync.WaitGroup
	got := make([]string, 8)
	planned := make([]bool, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, p, err := AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir, Who: "task", Stale: 2 * time.Second},
				writePlan(&calls, 200*time.Millisecond))
			if err != nil {
				t.Error(err)
			}
			got[i], planned[i] = d, p
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("planned %d times, want once", calls.Load())
	}
	n := 0
	for i := range got {
		if got[i] != got[0] || got[i] == "" {
			t.Errorf("task %d runs %q, task 0 %q", i, got[i], got[0])
		}
		if planned[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d tasks say they planned, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(got[0], "manifest.json")); err != nil {
		t.Error(err)
	}
	// A task arriving after the plan (a late start, or a requeue) plans nothing.
	d, p, err := AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir}, writePlan(&calls, 0))
	if err != nil || p || d != got[0] || calls.Load() != 1 {
		t.Errorf("late task: %q planned=%v err=%v calls=%d", d, p, err, calls.Load())
	}
}

// A planner killed mid-plan leaves a lock whose heartbeat has stopped: a waiter takes it over as the next
// generation, and a failed planner's lock is released at once.
func TestArrayPlanStaleLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meet")
	if err := os.MkdirAll(filepath.Join(dir, "gen-0000"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lock-0000"), []byte(`{"who":"host dead pid 1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	start := time.Now()
	d, p, err := AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir, Stale: 300 * time.Millisecond}, writePlan(&calls, 0))
	if err != nil || !p || filepath.Base(d) != "gen-0001" {
		t.Fatalf("took over: %q planned=%v err=%v", d, p, err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("took the lock over after %v, before it was stale", el)
	}

	dir2 := filepath.Join(t.TempDir(), "meet")
	boom := errors.New("listing failed")
	_, _, err = AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir2}, func(context.Context, string) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("failed plan: %v", err)
	}
	d, p, err = AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir2, Stale: time.Hour}, writePlan(&calls, 0))
	if err != nil || !p || filepath.Base(d) != "gen-0000" {
		t.Fatalf("after a failed plan: %q planned=%v err=%v", d, p, err)
	}
}

// A live planner's heartbeat keeps waiters waiting past Stale; a drain ends the wait cleanly.
func TestArrayPlanHeartbeatAndDrain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meet")
	release := make(chan struct{})
	planning := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir, Stale: 200 * time.Millisecond},
			func(ctx context.Context, d string) error {
				close(planning)
				<-release
				return os.MkdirAll(d, 0o755)
			})
		done <- err
	}()
	<-planning
	drain := make(chan struct{})
	waited := make(chan error, 1)
	var calls atomic.Int32
	go func() {
		_, _, err := AwaitArrayPlan(context.Background(), ArrayPlanOptions{Dir: dir, Stale: 200 * time.Millisecond, Drain: drain},
			writePlan(&calls, 0))
		waited <- err
	}()
	time.Sleep(time.Second)
	close(drain)
	if err := <-waited; !errors.Is(err, ErrStopped) {
		t.Errorf("drained wait: %v, want ErrStopped", err)
	}
	if calls.Load() != 0 {
		t.Errorf("a waiter planned while the planner was beating")
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// The state fragments an array's tasks leave are merged into the planner's state file in key order, the newer
// record winning, a torn line left out, and the fragments removed.
func TestMergeStateFragments(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "x.state")
	if err := os.WriteFile(state, []byte(stateHeader+"\n1 e1 10 \"a\"\n2 e2 20 \"c\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	frags := []string{state + ".frag-1", state + ".frag-2"}
	os.WriteFile(frags[0], []byte("3 e3 30 \"d\"\n9 e9 90 \"a\"\n"), 0o644)
	os.WriteFile(frags[1], []byte("4 e4 40 \"b\"\n5 e5 50 \"tor"), 0o644)
	if got := StateFragments(state); len(got) != 2 {
		t.Fatalf("fragments %v", got)
	}
	n, err := MergeStateFragments(state, frags)
	if err != nil || n != 2 {
		t.Fatalf("merged %d, %v; want 2 new keys", n, err)
	}
	b, _ := os.ReadFile(state)
	want := stateHeader + "\n9 e9 90 \"a\"\n4 e4 40 \"b\"\n2 e2 20 \"c\"\n3 e3 30 \"d\"\n"
	if string(b) != want {
		t.Errorf("state file:\n%s\nwant:\n%s", b, want)
	}
	if got := StateFragments(state); len(got) != 0 {
		t.Errorf("fragments left: %v", got)
	}
}
