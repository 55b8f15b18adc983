package transfer

import "context"

// heldDeletes keeps the deletes of a --delete run whose S3 listing is used as it comes, until the listings have
// ended in order (see treePass). They are kept as (key, size) in a listSorter, so that a mirror that deletes
// millions of files holds them within a memory budget and spills the rest to disk.
type heldDeletes struct {
	s *listSorter
	n int
}

func newHeldDeletes(budget int64, dir string) *heldDeletes {
	return &heldDeletes{s: newListSorter(budget, dir)}
}

// add holds one delete.
func (h *heldDeletes) add(it *item) error {
	h.n++
	return h.s.add([]ObjectInfo{{Key: it.key, Size: it.dst.Size}})
}

// replay emits the held deletes in key order, each a new item outside the state file's order (seq -1).
func (h *heldDeletes) replay(ctx context.Context, emit func(*item) error) error {
	if h.n == 0 {
		return nil
	}
	return h.s.emit(ctx, func(objs []ObjectInfo) error {
		for _, o := range objs {
			it := &item{seq: -1, key: o.Key, dst: &Entry{Key: o.Key, Size: o.Size}, action: ActionDelete}
			if err := emit(it); err != nil {
				return err
			}
		}
		return nil
	})
}

func (h *heldDeletes) close() { h.s.close() }
