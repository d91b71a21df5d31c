package clusterstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// The blob store in JetStream (see doc.go):
//
//	object store petrel_blobdata   BLOBID (hex) → the blob's bytes (JetStream chunks them)
//	bucket petrel_blobs            BLOBID (hex) → the Badger store's blob record:
//	                               0x01 ‖ size (4) ‖ stored at (8) ‖ expires at (8) ‖ uploader (16)
//	bucket petrel_blobuse          UPLOADER (hex) → blobs (8) ‖ bytes (8) charged
//
// An upload writes the object (blobobject.go: its chunks, each acknowledged by a quorum in
// order, then its meta message), reads it back whole at the object stream's leader and
// checks its size and SHA-256 against the id, and only then creates the record
// (compare-and-set: the first of concurrent uploads of one blob wins and is charged; the
// others only refresh it), then charges the uploader. A process killed mid-upload leaves
// no blob: only chunks without a meta message, removed by the object stream's MaxAge (twice
// the TTL plus an hour). A refresh (a re-upload of bytes the cluster holds) first checks
// the object (whole, once per process), so a record whose object is missing or does not
// hash to its id is dropped and the bytes are taken again; a read serves bytes only from an
// object it has checked the same way. A blob kept alive by re-uploads for longer than a
// TTL is rewritten, so its chunks outlive its record.

// blobState is the blob store's JetStream handles and cached totals.
type blobState struct {
	obj       jetstream.ObjectStore
	objStream jetstream.Stream // the object store's stream, read chunk by chunk
	objBucket string
	meta      jetstream.KeyValue
	use       jetstream.KeyValue
	verified  verifiedObjects // blobobject.go

	mu    sync.Mutex
	stats relaystore.BlobStats
}

// setupBlobs creates or binds the blob buckets, retrying until ctx ends.
func (s *Store) setupBlobs(ctx context.Context, q relaystore.Quota) error {
	r := s.cfg.Replicas
	age := time.Duration(0)
	if q.TTL > 0 {
		age = 2*q.TTL + time.Hour
	}
	b := &blobState{}
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := func() error {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Duration(s.cfg.Timeout))
			defer cancel()
			var err error
			b.obj, err = s.js.CreateOrUpdateObjectStore(rctx, jetstream.ObjectStoreConfig{
				Bucket: s.cfg.Prefix + "_blobdata", Description: "petrel relay blobs (ciphertext), content addressed",
				TTL: age, Storage: jetstream.FileStorage, Replicas: r,
			})
			if err != nil {
				return fmt.Errorf("blob object store: %w", err)
			}
			b.objBucket = s.cfg.Prefix + "_blobdata"
			if b.objStream, err = s.js.Stream(rctx, "OBJ_"+b.objBucket); err != nil {
				return fmt.Errorf("blob object stream: %w", err)
			}
			for _, kv := range []struct {
				dst *jetstream.KeyValue
				cfg jetstream.KeyValueConfig
			}{
				{&b.meta, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_blobs", Description: "blob records: size, expiry, uploader"}},
				{&b.use, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_blobuse", Description: "blob bytes charged per uploader"}},
			} {
				c := kv.cfg
				c.Storage, c.Replicas, c.History = jetstream.FileStorage, r, 1
				if *kv.dst, err = s.js.CreateOrUpdateKeyValue(rctx, c); err != nil {
					return fmt.Errorf("bucket %s: %w", c.Bucket, err)
				}
			}
			return nil
		}()
		if err == nil {
			s.blob = b
			// Count what the cluster holds (a purge at the zero time deletes nothing); the
			// gauges wait for the next purge if this fails.
			if _, err := s.PurgeBlobs(ctx, time.Time{}); err != nil {
				s.log.Warn("counting the cluster's blobs failed", "err", err)
			}
			return nil
		}
		s.log.Info("waiting to create the blob buckets", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("clusterstore: %w", err)
		case <-time.After(wait):
		}
	}
}

func blobKey(id relaywire.BlobID) string { return hex.EncodeToString(id[:]) }

// blobRecord reads id's record from its bucket's leader.
func (s *Store) blobRecord(ctx context.Context, id relaywire.BlobID) (relaystore.BlobInfo, uint64, error) {
	e, err := s.leaderGet(ctx, s.blob.meta, blobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return relaystore.BlobInfo{}, 0, relaystore.ErrBlobNotFound
	}
	if err != nil {
		return relaystore.BlobInfo{}, 0, err
	}
	info, err := relaystore.ParseBlobInfo(e.value)
	return info, e.revision, err
}

// PutBlob stores data under id (its SHA-256) for uploader under q, or, when the cluster
// holds it already, moves its expiry to now + q.TTL (stored is false; nobody is charged).
// The uploader's quota is checked against the usage bucket before the upload; concurrent
// uploads by one uploader at several processes may overshoot it by what is in flight.
func (s *Store) PutBlob(ctx context.Context, uploader []byte, id relaywire.BlobID, data []byte, now time.Time, q relaystore.BlobQuota) (bool, error) {
	if err := relaystore.CheckBlob(uploader, id, data); err != nil {
		return false, err
	}
	switch err := s.TouchBlob(ctx, id, now, q); {
	case err == nil:
		return false, nil
	case !errors.Is(err, relaystore.ErrBlobNotFound):
		return false, err
	}
	u, _, err := s.blobUse(ctx, uploader)
	if err != nil {
		return false, err
	}
	if q.MaxBytes > 0 && u.bytes+int64(len(data)) > q.MaxBytes {
		return false, fmt.Errorf("%w: %d of %d bytes held, %d more refused", relaystore.ErrBlobQuota, u.bytes, q.MaxBytes, len(data))
	}
	if err := s.putObject(ctx, id, bytes.NewReader(data), len(data)); err != nil {
		return false, err
	}
	info := relaystore.BlobInfo{Size: len(data), StoredAt: now.UnixMilli(), ExpiresAt: now.Add(q.TTL).UnixMilli(), Uploader: uploader}
	rctx, cancel := s.req(ctx)
	_, err = s.blob.meta.Create(rctx, blobKey(id), relaystore.MarshalBlobInfo(info))
	cancel()
	if isConflict(err) {
		// Another upload of the same bytes won: it is charged; refresh it.
		if err := s.TouchBlob(ctx, id, now, q); err != nil && !errors.Is(err, relaystore.ErrBlobNotFound) {
			return false, err
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("clusterstore: blob record: %w", err)
	}
	if err := s.chargeBlob(ctx, uploader, 1, int64(len(data))); err != nil {
		s.log.Warn("charging a blob to its uploader", "err", err)
	}
	s.blob.mu.Lock()
	s.blob.stats.Blobs++
	s.blob.stats.Bytes += int64(len(data))
	s.blob.mu.Unlock()
	return true, nil
}

// TouchBlob moves a held blob's expiry to now + q.TTL; ErrBlobNotFound when it is not
// held (an expired record is deleted on the way, and so is a record whose object is
// missing or corrupt at the leader: the caller then stores the bytes again).
func (s *Store) TouchBlob(ctx context.Context, id relaywire.BlobID, now time.Time, q relaystore.BlobQuota) error {
	for attempt := 0; attempt < 100; attempt++ {
		info, rev, err := s.blobRecord(ctx, id)
		if err != nil {
			return err
		}
		if info.ExpiresAt <= now.UnixMilli() {
			if _, err := s.deleteBlob(ctx, id, info, rev); err != nil {
				return err
			}
			return relaystore.ErrBlobNotFound
		}
		// Renew only what is really held: the object, read whole and hashed (once per
		// process).
		data, err := s.checkedObject(ctx, id, info, rev)
		if err != nil {
			return err
		}
		exp := now.Add(q.TTL).UnixMilli()
		if exp <= info.ExpiresAt {
			return nil
		}
		rewrite := q.TTL > 0 && now.UnixMilli()-info.StoredAt >= q.TTL.Milliseconds()
		if rewrite {
			// Its chunks would reach the object stream's MaxAge before the new expiry:
			// write them again.
			if data == nil {
				if data, err = s.readVerified(ctx, id, info, rev, 0, info.Size); err != nil {
					return err
				}
			}
			if err := s.putObject(ctx, id, bytes.NewReader(data), info.Size); err != nil {
				return err
			}
			info.StoredAt = now.UnixMilli()
		}
		info.ExpiresAt = exp
		rctx, cancel := s.req(ctx)
		_, err = s.blob.meta.Update(rctx, blobKey(id), relaystore.MarshalBlobInfo(info), rev)
		cancel()
		if isConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("clusterstore: blob record: %w", err)
		}
		return nil
	}
	return errors.New("clusterstore: blob record kept conflicting")
}

// deleteBlob deletes a blob whose record is at revision rev (ok false when someone else
// changed or deleted it first) and charges it back to its uploader.
func (s *Store) deleteBlob(ctx context.Context, id relaywire.BlobID, info relaystore.BlobInfo, rev uint64) (bool, error) {
	rctx, cancel := s.req(ctx)
	err := s.blob.meta.Delete(rctx, blobKey(id), jetstream.LastRevision(rev))
	cancel()
	if isConflict(err) || isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("clusterstore: delete blob record: %w", err)
	}
	rctx, cancel = s.req(ctx)
	err = s.blob.obj.Delete(rctx, blobKey(id))
	cancel()
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		s.log.Warn("deleting a blob object (its chunks expire with the stream's MaxAge)", "err", err)
	}
	if err := s.chargeBlob(ctx, info.Uploader, -1, -int64(info.Size)); err != nil {
		s.log.Warn("charging a blob back to its uploader", "err", err)
	}
	s.blob.mu.Lock()
	s.blob.stats.Blobs = max(0, s.blob.stats.Blobs-1)
	s.blob.stats.Bytes = max(0, s.blob.stats.Bytes-int64(info.Size))
	s.blob.mu.Unlock()
	return true, nil
}

// blobUsage is an uploader's charge.
type blobUsage struct{ blobs, bytes int64 }

func (s *Store) blobUse(ctx context.Context, uploader []byte) (blobUsage, uint64, error) {
	e, err := s.leaderGet(ctx, s.blob.use, hex.EncodeToString(uploader))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return blobUsage{}, 0, nil
	}
	if err != nil {
		return blobUsage{}, 0, err
	}
	if len(e.value) != 16 {
		return blobUsage{}, 0, fmt.Errorf("clusterstore: blob usage of %d bytes", len(e.value))
	}
	return blobUsage{int64(beUint64(e.value)), int64(beUint64(e.value[8:]))}, e.revision, nil
}

// chargeBlob adds n blobs of size bytes (negative to charge back) to uploader's usage by
// compare-and-set.
func (s *Store) chargeBlob(ctx context.Context, uploader []byte, n, size int64) error {
	key := hex.EncodeToString(uploader)
	for attempt := 0; attempt < 100; attempt++ {
		u, rev, err := s.blobUse(ctx, uploader)
		if err != nil {
			return err
		}
		u.blobs, u.bytes = max(0, u.blobs+n), max(0, u.bytes+size)
		v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(u.blobs)), uint64(u.bytes))
		rctx, cancel := s.req(ctx)
		if rev == 0 {
			_, err = s.blob.use.Create(rctx, key, v)
		} else {
			_, err = s.blob.use.Update(rctx, key, v, rev)
		}
		cancel()
		if isConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("clusterstore: blob usage: %w", err)
		}
		return nil
	}
	return errors.New("clusterstore: blob usage kept conflicting")
}

// BlobUsage returns the blobs and bytes charged to uploader, cluster-wide.
func (s *Store) BlobUsage(uploader []byte) (int64, int64, error) {
	u, _, err := s.blobUse(s.ctx, uploader)
	return u.blobs, u.bytes, err
}

// StatBlob returns the record of id; ErrBlobNotFound when absent or expired.
func (s *Store) StatBlob(id relaywire.BlobID, now time.Time) (relaystore.BlobInfo, error) {
	info, _, err := s.blobRecord(s.ctx, id)
	if err != nil {
		return relaystore.BlobInfo{}, err
	}
	if info.ExpiresAt <= now.UnixMilli() {
		return relaystore.BlobInfo{}, relaystore.ErrBlobNotFound
	}
	return info, nil
}

// ReadBlob returns n bytes of blob id from off, read from the object store (whose replica
// may lag a moment behind the record: it retries within the request timeout). It serves
// bytes only of an object it has read whole and found to hash to id; a record whose
// object is missing or corrupt at the leader is dropped (ErrBlobNotFound).
func (s *Store) ReadBlob(id relaywire.BlobID, off, n int, now time.Time) ([]byte, error) {
	info, rev, err := s.blobRecord(s.ctx, id)
	if err != nil {
		return nil, err
	}
	if info.ExpiresAt <= now.UnixMilli() {
		return nil, relaystore.ErrBlobNotFound
	}
	if off < 0 || n < 0 || off+n > info.Size {
		return nil, fmt.Errorf("clusterstore: range %d+%d beyond a blob of %d bytes", off, n, info.Size)
	}
	return s.readVerified(s.ctx, id, info, rev, off, n)
}

// readVerified reads a range of a checked object (verifiedRange), again while a replica
// lags (within twice the request timeout), dropping the record (rev) of a corrupt one.
func (s *Store) readVerified(ctx context.Context, id relaywire.BlobID, info relaystore.BlobInfo, rev uint64, off, n int) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Duration(s.cfg.Timeout))
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		out, err := s.verifiedRange(rctx, id, info.Size, off, n)
		if errors.Is(err, errBlobCorrupt) {
			return nil, s.dropCorrupt(ctx, id, info, rev, err)
		}
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return out, err
		}
		select {
		case <-rctx.Done():
			return nil, relaystore.ErrBlobNotFound
		case <-time.After(wait):
		}
	}
}

// checkedObject checks that blob id's object (its record info at rev) is whole and hashes
// to id: its bytes when they had to be read for that, nil when this process checked this
// object before. A missing or corrupt object drops the record (ErrBlobNotFound).
func (s *Store) checkedObject(ctx context.Context, id relaywire.BlobID, info relaystore.BlobInfo, rev uint64) ([]byte, error) {
	if nuid := s.blob.verified.get(id); nuid != "" {
		oi, err := s.blob.obj.GetInfo(ctx, blobKey(id))
		if err == nil && oi.NUID == nuid && oi.Size == uint64(info.Size) {
			return nil, nil
		}
	}
	return s.readVerified(ctx, id, info, rev, 0, info.Size)
}

// readObject reads n bytes of an object (info) from off, chunk by chunk with direct gets
// on the object stream (any replica answers; no consumer to create), up to the chunk
// holding the range's end. The chunks are the object store's: subject $O.BUCKET.C.NUID, in
// order.
func (s *Store) readObject(ctx context.Context, info *jetstream.ObjectInfo, off, n int) ([]byte, error) {
	if info.Size < uint64(off+n) {
		return nil, fmt.Errorf("clusterstore: blob object of %d bytes for a range to %d", info.Size, off+n)
	}
	subj := s.chunkSubject(info.NUID)
	out := make([]byte, 0, n)
	pos := 0
	for seq := uint64(1); pos < off+n; {
		at, d, err := s.directChunk(ctx, seq, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, jetstream.ErrObjectNotFound // a replica behind the one that had the meta: again
		}
		if err != nil {
			return nil, fmt.Errorf("clusterstore: blob object chunk at %d: %w", pos, err)
		}
		if lo, hi := max(off-pos, 0), min(off+n-pos, len(d)); lo < hi {
			out = append(out, d[lo:hi]...)
		}
		pos += len(d)
		seq = at + 1
	}
	return out, nil
}

// PurgeBlobs deletes every blob whose TTL ended at or before now; any process may run it
// (a deletion counts only where its compare-and-set succeeded).
func (s *Store) PurgeBlobs(ctx context.Context, now time.Time) (int, error) {
	type expired struct {
		id   relaywire.BlobID
		info relaystore.BlobInfo
		rev  uint64
	}
	var list []expired
	wctx, cancel := context.WithTimeout(ctx, 4*time.Duration(s.cfg.Timeout))
	w, err := s.blob.meta.WatchAll(wctx, jetstream.IgnoreDeletes())
	if err != nil {
		cancel()
		return 0, fmt.Errorf("clusterstore: purge blobs: %w", err)
	}
	var total relaystore.BlobStats
	for e := range w.Updates() {
		if e == nil {
			break // the current values are all in
		}
		info, err := relaystore.ParseBlobInfo(e.Value())
		k, kerr := hex.DecodeString(e.Key())
		if err != nil || kerr != nil || len(k) != relaywire.BlobIDSize {
			continue
		}
		if info.ExpiresAt <= now.UnixMilli() {
			var id relaywire.BlobID
			copy(id[:], k)
			list = append(list, expired{id, info, e.Revision()})
		} else {
			total.Blobs++
			total.Bytes += int64(info.Size)
		}
	}
	w.Stop()
	werr := wctx.Err()
	cancel()
	if werr != nil {
		return 0, fmt.Errorf("clusterstore: purge blobs: listing records: %w", werr)
	}
	s.blob.mu.Lock()
	s.blob.stats = total
	s.blob.mu.Unlock()
	n := 0
	for _, e := range list {
		ok, err := s.deleteBlob(ctx, e.id, e.info, e.rev)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, ctx.Err()
}

// BlobStats returns the cluster's blob totals as this process last counted them (by the
// purge, every purge interval, and its own uploads and deletions since).
func (s *Store) BlobStats() relaystore.BlobStats {
	s.blob.mu.Lock()
	defer s.blob.mu.Unlock()
	return s.blob.stats
}
