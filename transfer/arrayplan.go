package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// An array plan lets the tasks of one Slurm array (or multi-task step) that run a plain sync share one listing and
// one walk: the first task to arrive takes a lock on the shared file system and plans into a manifest, the others
// wait for it, then every task runs its own shard of that manifest, journalled, as fsxsync run does. The tasks
// share nothing but the file system, so everything goes through files in one directory, which the caller names
// after the job and the sync's arguments (so that another sync never reuses it):
//
//	DIR/lock-0003          generation 3's planner: exclusive create, its host, pid and start; its mtime is the heartbeat
//	DIR/gen-0003/          the manifest generation 3 plans (manifest.json, shard-*.jsonl, journal-*.jsonl)
//	DIR/ready              the name of the published generation ("gen-0003"); made by link(2), so it appears whole
//
// A planner that stops beating (killed, its node lost) is taken over by the first waiter to create the next
// generation's lock; should the old planner only have stalled and finish later, the first generation to publish
// wins and the other's work is discarded, so every task runs shards of one manifest.

// ArrayPlanOptions say where and how the tasks of one array meet.
type ArrayPlanOptions struct {
	// Dir is the meeting directory, on a file system every task sees; it is made if missing.
	Dir string
	// Who describes this task in the lock file and in the log ("host h pid 7, array task 3").
	Who string
	// Stale is how long a lock may go without a heartbeat before a waiter takes it over; the planner beats four
	// times in that time. Zero means DefaultArrayLockStale.
	Stale time.Duration
	// Log gets a line when this task plans, waits or takes over; nil discards them.
	Log *slog.Logger
	// Drain, when closed, ends a wait with ErrStopped (a clean stop before any work).
	Drain <-chan struct{}
}

// DefaultArrayLockStale is how long a planner's lock may go without a heartbeat before another task plans instead.
// It is long against a shared file system's hiccups and short against a job's run time.
const DefaultArrayLockStale = 2 * time.Minute

// arrayLock is what a planner writes into its lock file, for a person looking at a stuck array.
type arrayLock struct {
	Who     string    `json:"who"`
	Started time.Time `json:"started"`
}

// AwaitArrayPlan returns the manifest directory this array's tasks run, planning it with plan when this task is the
// first to arrive (or the planner before it stopped beating) and waiting for it otherwise. planned says this task
// made it.
func AwaitArrayPlan(ctx context.Context, o ArrayPlanOptions, plan func(ctx context.Context, dir string) error) (dir string, planned bool, err error) {
	if o.Stale <= 0 {
		o.Stale = DefaultArrayLockStale
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", false, fmt.Errorf("array plan: %w", err)
	}
	start := time.Now()
	var watched string
	var lastMtime time.Time
	var lastChange time.Time
	waiting := false
	for {
		if gen, ok, err := readReady(o.Dir); err != nil {
			return "", false, err
		} else if ok {
			return filepath.Join(o.Dir, gen), false, nil
		}
		g, fi, err := lastLock(o.Dir)
		if err != nil {
			return "", false, err
		}
		take := -1
		switch {
		case fi == nil:
			take = g
		case fi.Name() != watched || !fi.ModTime().Equal(lastMtime):
			// Staleness is judged by this task's own clock, from when it last saw the heartbeat move, so that
			// clocks that differ between nodes do not matter.
			watched, lastMtime, lastChange = fi.Name(), fi.ModTime(), time.Now()
		case time.Since(lastChange) > o.Stale:
			o.Log.Warn(fmt.Sprintf("array plan: %s has not beaten for %v (its planner was killed or its node lost): planning instead",
				fi.Name(), o.Stale.Round(time.Second)))
			take = g + 1
		}
		if take >= 0 {
			dir, won, err := tryPlan(ctx, o, take, plan)
			if err != nil || won {
				return dir, won, err
			}
			continue
		}
		if !waiting {
			waiting = true
			b, _ := os.ReadFile(filepath.Join(o.Dir, fi.Name()))
			var l arrayLock
			_ = json.Unmarshal(b, &l)
			o.Log.Info(fmt.Sprintf("array plan: waiting for %s to list both sides once for the whole array (%s)", orUnknown(l.Who), o.Dir))
		}
		// The wait looks again soon at first (a plan of a small tree takes seconds), then less and less often, so
		// that a thousand tasks waiting an hour for the plan of a large tree do not load the metadata server; a
		// quarter of Stale still sees a stopped heartbeat in time.
		t := time.NewTimer(min(max(time.Since(start)/10, 50*time.Millisecond), o.Stale/4))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", false, ctx.Err()
		case <-o.Drain:
			t.Stop()
			return "", false, ErrStopped
		case <-t.C:
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "another task"
	}
	return s
}

// readReady says which generation was published, if any.
func readReady(dir string) (string, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "ready"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("array plan: %w", err)
	}
	gen := strings.TrimSpace(string(b))
	if !strings.HasPrefix(gen, "gen-") || strings.ContainsAny(gen, "/\\") {
		return "", false, Usagef("array plan: %s is damaged (%q); remove the directory %s and run again", filepath.Join(dir, "ready"), gen, dir)
	}
	return gen, true, nil
}

// lastLock finds the highest generation's lock: its number and its file, or (the next number, nil) when there is
// none, which is also the case after a planner that failed removed its lock.
func lastLock(dir string) (int, fs.FileInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, fmt.Errorf("array plan: %w", err)
	}
	best, next := -1, 0
	var bestName string
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "lock-")
		if !ok {
			continue
		}
		g, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if g > best {
			best, bestName = g, e.Name()
		}
		next = max(next, g+1)
	}
	if best < 0 {
		return next, nil, nil
	}
	fi, err := os.Stat(filepath.Join(dir, bestName))
	if errors.Is(err, fs.ErrNotExist) {
		// Removed between the listing and the stat: its planner gave up; the caller looks again.
		return best, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("array plan: %w", err)
	}
	return best, fi, nil
}

// tryPlan creates generation g's lock and, if this task got it, plans and publishes. won is false when another
// task created the lock first.
func tryPlan(ctx context.Context, o ArrayPlanOptions, g int, plan func(ctx context.Context, dir string) error) (dir string, won bool, err error) {
	lock := filepath.Join(o.Dir, fmt.Sprintf("lock-%04d", g))
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("array plan: %w", err)
	}
	b, _ := json.Marshal(arrayLock{Who: o.Who, Started: time.Now().UTC()})
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(lock)
		return "", false, fmt.Errorf("array plan: %w", werr)
	}
	gen := fmt.Sprintf("gen-%04d", g)
	dir = filepath.Join(o.Dir, gen)
	o.Log.Info(fmt.Sprintf("array plan: this task lists both sides for the whole array, into %s", dir))
	stop := make(chan struct{})
	beaten := make(chan struct{})
	go func() {
		// The heartbeat: a waiter that sees the lock's mtime stand still for Stale takes over.
		defer close(beaten)
		t := time.NewTicker(max(o.Stale/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				_ = os.Chtimes(lock, now, now)
			}
		}
	}()
	// A generation directory left by a planner of the same number that failed is started afresh.
	err = os.RemoveAll(dir)
	if err == nil {
		err = plan(ctx, dir)
	}
	if err == nil {
		err = publish(o.Dir, gen)
	}
	close(stop)
	<-beaten
	if err != nil {
		// Another task takes over at once rather than after Stale: the failure may be this task's alone.
		os.Remove(lock)
		return "", false, err
	}
	// A slower planner of another generation may have published first; every task must run the same manifest.
	pub, _, rerr := readReady(o.Dir)
	if rerr != nil {
		return "", false, rerr
	}
	return filepath.Join(o.Dir, pub), pub == gen, nil
}

// publish names gen as the array's manifest unless another generation was named first. The name is written to a
// temporary file and linked into place, so that a reader never sees a half-written name and two publishers never
// both succeed.
func publish(dir, gen string) error {
	tmp := filepath.Join(dir, "ready."+gen)
	if err := os.WriteFile(tmp, []byte(gen+"\n"), 0o644); err != nil {
		return fmt.Errorf("array plan: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, filepath.Join(dir, "ready")); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("array plan: publish: %w", err)
	}
	return nil
}
