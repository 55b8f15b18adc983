package transfer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Archived objects. S3 cannot read an object in S3 Glacier Flexible Retrieval (GLACIER), S3 Glacier Deep Archive
// (DEEP_ARCHIVE) or an S3 Intelligent-Tiering archive tier until it is restored: a GET answers 403
// InvalidObjectState (S3 User Guide, "Working with archived objects"; S3 API Reference: GetObject, RestoreObject).
// A download knows such objects before any GET, from the listing's StorageClass and RestoreStatus or a HEAD's
// x-amz-storage-class, x-amz-restore and x-amz-archive-status, and Decide gives them ActionArchived: each is skipped
// with one warning, counted as archived (neither transferred, nor skipped as unchanged, nor failed), and the local
// copy, if any, is left alone. An Intelligent-Tiering object in an archive tier looks like any other in a listing;
// its GET's InvalidObjectState (KindArchived) puts it on the same path. --force-archived-transfer tries the GET
// anyway, and the object then fails like any other; --restore-archived asks S3 to restore each archived object
// (RestoreObject) and still does not download it: a later run, once the restore is done, does. Uploads are
// unaffected: an archived object at the destination is compared like any other, and only overwritten.

// Archived reports whether S3 cannot read the object until it is restored: a GLACIER or DEEP_ARCHIVE object without
// a finished restore, an INTELLIGENT_TIERING object in an archive tier (HeadObject's x-amz-archive-status), and any
// object whose restore is still under way. GLACIER_IR (Glacier Instant Retrieval) is read like STANDARD.
func (o ObjectInfo) Archived() bool {
	switch {
	case o.Restore == RestoreDone:
		return false
	case o.Restore == RestoreOngoing:
		return true
	case o.StorageClass == "GLACIER" || o.StorageClass == "DEEP_ARCHIVE":
		return true
	}
	return o.ArchiveStatus != ""
}

// noteArchive copies what S3 said of an object's storage class and restore into its entry.
func noteArchive(e *Entry, o ObjectInfo) {
	e.StorageClass, e.Restore, e.Archived = o.StorageClass, o.Restore, o.Archived()
}

// ArchiveRestore is --restore-archived: the restore a download asks for each archived object it meets.
type ArchiveRestore struct {
	// Days is how long S3 keeps the restored copy readable; 0 asks for no restore.
	Days int
	// Tier is the retrieval tier: Standard, Bulk or Expedited (S3 API Reference: GlacierJobParameters).
	Tier string
}

// maxRestoreDays bounds --restore-archived's DAYS: a hundred years, to catch a typo; S3 asks for at least one day.
const maxRestoreDays = 36500

// ParseArchiveRestore reads --restore-archived DAYS[:TIER]; TIER is Standard (the default), Bulk or Expedited, in
// any case.
func ParseArchiveRestore(v string) (ArchiveRestore, error) {
	daysText, tierText, hasTier := strings.Cut(v, ":")
	days, err := strconv.Atoi(strings.TrimSpace(daysText))
	if err != nil || days < 1 || days > maxRestoreDays {
		return ArchiveRestore{}, Usagef("--restore-archived %q: DAYS is how many days the restored copy stays readable, a whole number from 1 to %d (e.g. --restore-archived 7, or 7:Bulk)", v, maxRestoreDays)
	}
	r := ArchiveRestore{Days: days, Tier: "Standard"}
	if hasTier {
		switch t := strings.TrimSpace(tierText); {
		case strings.EqualFold(t, "Standard"):
			r.Tier = "Standard"
		case strings.EqualFold(t, "Bulk"):
			r.Tier = "Bulk"
		case strings.EqualFold(t, "Expedited"):
			r.Tier = "Expedited"
		default:
			return ArchiveRestore{}, Usagef("--restore-archived %q: the retrieval tier %q is not one of Standard (the default), Bulk or Expedited", v, t)
		}
	}
	return r, nil
}

// Restorer is an ObjectStore that can ask S3 to restore archived objects; s3store.Store is one. The engine needs it
// only for --restore-archived.
type Restorer interface {
	// Restore asks S3 for a readable copy of the archived object at key, kept for days days (0 sends no Days, as an
	// Intelligent-Tiering archive tier requires) and retrieved at tier. A restore already under way is an answer,
	// not an error.
	Restore(ctx context.Context, key string, days int, tier string) (RestoreAnswer, error)
}

// RestoreAnswer is S3's answer to a restore request (S3 API Reference: RestoreObject, "Responses").
type RestoreAnswer uint8

// The answers.
const (
	// RestoreStarted: 202 Accepted, a restore was started.
	RestoreStarted RestoreAnswer = iota
	// RestoreAlreadyOngoing: 409 RestoreAlreadyInProgress, a restore asked for earlier is still under way.
	RestoreAlreadyOngoing
	// RestoreAlreadyDone: 200 OK, a restored copy is already there to read (the request only moved its expiry).
	RestoreAlreadyDone
)

// restoreOutcome is what --restore-archived did for one archived object, for the report.
type restoreOutcome uint8

const (
	restoreNotAsked restoreOutcome = iota
	restoreRequested
	restoreInProgress
)

// ArchivedCount counts the archived objects a download met and did not read, and the restores asked for.
type ArchivedCount struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// RestoreRequested counts the objects whose restore this run asked for (--restore-archived), and
	// RestoreInProgress those whose restore was already under way.
	RestoreRequested  int64 `json:"restore_requested"`
	RestoreInProgress int64 `json:"restore_in_progress"`
}

// archiveClass names an archived entry's storage class for a person.
func archiveClass(e *Entry) string {
	if e.StorageClass == "" {
		// A GET said InvalidObjectState of an object the listing gave no class for.
		return "an archive tier"
	}
	return e.StorageClass
}

// archived handles an item whose source is archived, in a worker. It returns the item's result and true, or false
// when the object is to be downloaded after all: --force-archived-transfer, or a restore request that found a
// restored copy already there.
func (e *engine) archived(ctx context.Context, it *item) (result, bool) {
	if e.o.ForceArchived {
		return result{}, false
	}
	src := it.src
	if it.planned {
		// Planned as a copy before its GET said it was archived: it leaves the progress totals.
		it.planned = false
		e.o.Progress.unplanCopy(src.Size)
		e.o.Progress.moved(-it.streamed.Swap(0))
	}
	r := e.skipResult(it)
	r.action = ActionArchived
	object := "s3://" + e.store.Bucket() + "/" + it.objectKey
	class := archiveClass(src)
	ask := e.o.RestoreArchived
	if e.o.DryRun {
		if e.o.plan == nil {
			what := "skip archived object"
			if ask.Days > 0 && src.Restore != RestoreOngoing {
				what = "restore archived object"
			}
			fmt.Fprintf(e.o.Out, "(dryrun) %s: %s (%s), not downloaded\n", what, object, class)
		}
		return r, true
	}
	attrs := []any{"key", it.key, "storage_class", class, "object", object}
	if e.restoresAsked.has(it.key) {
		// Asked for in this run's first pass (before a listing out of order was listed again): its warning was
		// given then, and the listing may now say the restore is in progress, which this run started.
		r.restore = restoreRequested
		return r, true
	}
	switch {
	case ask.Days == 0:
		e.o.Log.Warn("skipped archived object: S3 cannot read it until it is restored; restore it first "+
			"(run again with --restore-archived DAYS, e.g. --restore-archived 7, or aws s3api restore-object), then run again", attrs...)
		return r, true
	case src.Restore == RestoreOngoing:
		r.restore = restoreInProgress
		e.o.Log.Warn("archived object: a restore is already in progress; not downloaded this run: run again once it is done", attrs...)
		return r, true
	}
	rs, ok := e.store.(Restorer)
	if !ok {
		r.err, r.op = errors.New("this store cannot ask for restores of archived objects"), "restore"
		return r, true
	}
	days := ask.Days
	if src.StorageClass == "INTELLIGENT_TIERING" {
		// Its archive tiers restore into its Frequent Access tier, where the object stays: a restore request for one
		// must not say how long (S3 API Reference: RestoreObject; S3InitiateRestoreObjectOperation).
		days = 0
	}
	answer, err := rs.Restore(ctx, it.objectKey, days, ask.Tier)
	switch {
	case err != nil:
		r.err, r.op = err, "restore"
	case answer == RestoreAlreadyDone:
		return result{}, false
	case answer == RestoreAlreadyOngoing:
		r.restore = restoreInProgress
		e.o.Log.Warn("archived object: a restore is already in progress; not downloaded this run: run again once it is done", attrs...)
	default:
		e.restoresAsked.add(it.key)
		r.restore = restoreRequested
		e.o.Log.Warn("archived object: restore requested; not downloaded this run: run again once the restore is done",
			append(attrs, "days", days, "tier", ask.Tier)...)
	}
	return r, true
}

// downloadOrArchived downloads an item, and takes a GET that S3 refused with InvalidObjectState for what it says:
// the object is archived (an Intelligent-Tiering archive tier, which a listing does not show, or an object archived
// since it was listed). It is then handled like an object the listing said was archived, unless
// --force-archived-transfer asked for the GET, whose failure then names the storage class.
func (e *engine) downloadOrArchived(ctx context.Context, it *item) result {
	r := e.download(ctx, it)
	if r.err == nil || KindOf(r.err) != KindArchived {
		return r
	}
	if e.o.ForceArchived {
		r.err = fmt.Errorf("archived object (%s) not restored; --force-archived-transfer tried it anyway: %w", archiveClass(it.src), r.err)
		return r
	}
	it.src.Archived = true
	if ar, done := e.archived(ctx, it); done {
		return ar
	}
	// A restore request found a restored copy that the GET did not: leave it to the next run.
	return r
}
