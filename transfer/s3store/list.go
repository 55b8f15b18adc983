package s3store

import (
	"context"
	"sync"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/transfer"
)

// listConcurrency is how many sub-prefixes List reads at once. Listing is one request per 1,000 keys, each a round
// trip, so a serial listing of 100 million objects takes hours before anything moves (s5cmd #497).
const listConcurrency = 8

// List calls fn for every object under prefix in key order, one page at a time. It splits the prefix by its
// "directories" (a listing with delimiter "/") and lists up to eight of them at once, handing their pages to fn in
// key order: each directory's keys form one contiguous, sorted range, so reading the ranges in order is the whole
// listing in order. A flat prefix, whose first page holds keys and no directories, is cut into ranges of keys
// instead (listFlat), except in a directory bucket, whose listings have no order and take no StartAfter. Memory stays
// bounded: each range being read ahead holds at most a few pages.
func (s *Store) List(ctx context.Context, prefix string, fn func([]transfer.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// On the way out, stop the listers and wait for them: none outlives List.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type segment struct {
		single []transfer.ObjectInfo      // a key directly under the prefix
		pages  chan []transfer.ObjectInfo // a sub-prefix's pages, in order
		err    chan error                 // the sub-prefix lister's end
	}
	segs := make(chan segment, listConcurrency)
	sem := make(chan struct{}, listConcurrency)
	var splitErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(segs)
		splitErr = s.split(ctx, prefix, func(single *transfer.ObjectInfo, sub string, first []transfer.ObjectInfo) bool {
			seg := segment{}
			switch {
			case single != nil:
				seg.single = []transfer.ObjectInfo{*single}
			case first != nil:
				// The flat prefix is the last segment: its listers take no slot of sem, which nothing else needs now.
				seg.pages, seg.err = make(chan []transfer.ObjectInfo, 4), make(chan error, 1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(seg.pages)
					seg.err <- s.listFlat(ctx, sub, first, seg.pages)
				}()
			default:
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return false
				}
				seg.pages, seg.err = make(chan []transfer.ObjectInfo, 4), make(chan error, 1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					defer close(seg.pages)
					seg.err <- s.listRange(ctx, sub, seg.pages)
				}()
			}
			select {
			case segs <- seg:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	for seg := range segs {
		if seg.single != nil {
			if err := fn(seg.single); err != nil {
				return err
			}
			continue
		}
		for page := range seg.pages {
			if err := fn(page); err != nil {
				return err
			}
		}
		if err := <-seg.err; err != nil {
			return err
		}
	}
	if splitErr != nil {
		return splitErr
	}
	return ctx.Err()
}

// split walks the delimiter listing of prefix and calls emit for each key directly under it and each sub-prefix,
// in key order. A prefix whose only child is one sub-prefix is split one level further down, so that a tree kept
// under a single top directory is still read in parallel. A flat prefix (a first page of keys only, with more pages
// after it) is handed to emit whole, with its first page, and ends the walk: its keys are listed in ranges.
func (s *Store) split(ctx context.Context, prefix string, emit func(single *transfer.ObjectInfo, sub string, first []transfer.ObjectInfo) bool) error {
	for depth := 0; ; depth++ {
		var keys []transfer.ObjectInfo
		var subs []string
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket),
			Prefix: aws.String(prefix), Delimiter: aws.String("/"), OptionalObjectAttributes: restoreStatus()})
		first := true
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return s.fail("list", prefix, err)
			}
			keys, subs = keys[:0], subs[:0]
			for _, o := range page.Contents {
				keys = append(keys, objectInfo(o))
			}
			for _, cp := range page.CommonPrefixes {
				subs = append(subs, aws.ToString(cp.Prefix))
			}
			if first && !p.HasMorePages() && len(keys) == 0 && len(subs) == 1 && depth < 4 {
				prefix = subs[0]
				break
			}
			if first && p.HasMorePages() && len(subs) == 0 && len(keys) > 1 && !IsDirectoryBucket(s.bucket) && inOrder(keys) {
				// Without a delimiter the same listing starts with the same keys, since no key on this page has a
				// "/" after the prefix; the rest of it, nested keys included, is listed in ranges after the last. A
				// page out of order comes from a server that does not sort, whose next pages may still hold keys
				// before this one's last: it is listed as it comes, and the engine sorts it.
				emit(nil, prefix, keys)
				return ctx.Err()
			}
			first = false
			// Keys and sub-prefixes of one page interleave in key order.
			i, j := 0, 0
			for i < len(keys) || j < len(subs) {
				if j == len(subs) || (i < len(keys) && keys[i].Key < subs[j]) {
					if !emit(&keys[i], "", nil) {
						return ctx.Err()
					}
					i++
				} else {
					if !emit(nil, subs[j], nil) {
						return ctx.Err()
					}
					j++
				}
			}
		}
		if !first {
			return nil
		}
		if len(subs) != 1 || len(keys) != 0 {
			return nil
		}
	}
}

// inOrder reports whether keys are in strictly ascending order, as S3 lists a general purpose bucket.
func inOrder(keys []transfer.ObjectInfo) bool {
	for i := 1; i < len(keys); i++ {
		if keys[i].Key <= keys[i-1].Key {
			return false
		}
	}
	return true
}

// listRange lists everything under prefix (no delimiter) into pages.
func (s *Store) listRange(ctx context.Context, prefix string, pages chan<- []transfer.ObjectInfo) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix),
		OptionalObjectAttributes: restoreStatus()})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.fail("list", prefix, err)
		}
		batch := make([]transfer.ObjectInfo, 0, len(page.Contents))
		for _, o := range page.Contents {
			batch = append(batch, objectInfo(o))
		}
		select {
		case pages <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// restoreStatus asks a listing for each archived object's restore state (x-amz-optional-object-attributes:
// RestoreStatus; S3 API Reference: ListObjectsV2, OptionalObjectAttributes), so that a download knows which archived
// objects it can read before any GET. S3 gives it only for objects whose restore was asked for. A server that does
// not know the header ignores it (versitygw v1.8.0 does): its objects are then never archived.
func restoreStatus() []s3types.OptionalObjectAttributes {
	return []s3types.OptionalObjectAttributes{s3types.OptionalObjectAttributesRestoreStatus}
}

func objectInfo(o s3types.Object) transfer.ObjectInfo {
	info := transfer.ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: trimETag(aws.ToString(o.ETag)),
		LastModified: aws.ToTime(o.LastModified), StorageClass: string(o.StorageClass)}
	// S3 gives a RestoreStatus only for an object whose restore was asked for: in progress, or done until its expiry.
	if rs := o.RestoreStatus; rs != nil {
		switch {
		case aws.ToBool(rs.IsRestoreInProgress):
			info.Restore = transfer.RestoreOngoing
		case rs.IsRestoreInProgress != nil || rs.RestoreExpiryDate != nil:
			info.Restore = transfer.RestoreDone
		}
	}
	return info
}

// ListUploads lists the multipart uploads open under prefix.
func (s *Store) ListUploads(ctx context.Context, prefix string) ([]transfer.UploadInfo, error) {
	var out []transfer.UploadInfo
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, s.fail("list multipart uploads in", prefix, err)
		}
		for _, u := range page.Uploads {
			out = append(out, transfer.UploadInfo{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}
