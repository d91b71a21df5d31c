package relaystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// The blob store: content-addressed ciphertext blobs (media a node left for its contacts),
// each stored once under its SHA-256 however many times it is uploaded:
//
//	'B' ‖ blob id (32)   → the blob's bytes (a padding bucket: a power of two, 4 KiB..4 MiB)
//	'I' ‖ blob id (32)   → 0x01 ‖ size (4) ‖ stored at (8, Unix ms) ‖ expires at (8) ‖ uploader (16)
//	'U' ‖ uploader (16)  → blobs (8) ‖ bytes (8) charged to the uploader
//
// A blob is charged once, to the uploader that stored it first; a later upload of the same
// bytes (by anyone registered) only moves its expiry to now + TTL. A blob and its record
// are written in one transaction, so a crash mid-upload leaves nothing visible.

// Blob errors (wrapped; use errors.Is).
var (
	ErrBlobNotFound = errors.New("relaystore: no such blob")
	ErrBlobQuota    = errors.New("relaystore: uploader blob quota reached")
	ErrBlobSize     = errors.New("relaystore: blob size is not a padding bucket")
	ErrBlobMismatch = errors.New("relaystore: blob bytes do not hash to its id")
)

const (
	pfxBlob      byte = 'B'
	pfxBlobInfo  byte = 'I'
	pfxBlobUsage byte = 'U'
	blobVersion  byte = 1
	blobInfoSize      = 1 + 4 + 8 + 8 + relaywire.MailboxIDSize
)

// BlobQuota bounds one uploader's blobs.
type BlobQuota struct {
	MaxBytes int64         // bytes of blobs charged to one uploader (0: unlimited)
	TTL      time.Duration // how long a blob is kept after its last upload
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Size                int
	StoredAt, ExpiresAt int64 // Unix ms
	Uploader            []byte
}

// BlobStats are the blob store's totals: blobs held and their bytes (each once).
type BlobStats struct{ Blobs, Bytes int64 }

// blobTotals are the store's running blob totals.
type blobTotals struct{ blobs, bytes atomic.Int64 }

// maxVerifiedBlobs bounds the blobs a store remembers as checked.
const maxVerifiedBlobs = 16384

// verifiedBlobs are the blobs this process has read whole and found to hash to their ids:
// a blob is checked before the first byte of it is served or its expiry is renewed, then
// remembered (a blob's bytes never change under its id).
type verifiedBlobs struct {
	mu sync.Mutex
	m  map[relaywire.BlobID]struct{}
}

func (v *verifiedBlobs) has(id relaywire.BlobID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.m[id]
	return ok
}

func (v *verifiedBlobs) add(id relaywire.BlobID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[relaywire.BlobID]struct{}{}
	}
	if len(v.m) >= maxVerifiedBlobs {
		for k := range v.m { // forget any one: it is checked again when read
			delete(v.m, k)
			break
		}
	}
	v.m[id] = struct{}{}
}

func (v *verifiedBlobs) forget(id relaywire.BlobID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, id)
}

// checkBlobBytes checks a blob's stored bytes against its id and record, once per process.
func (s *Store) checkBlobBytes(id relaywire.BlobID, info BlobInfo, v []byte) error {
	if s.verified.has(id) {
		return nil
	}
	if len(v) != info.Size || relaywire.BlobIDOf(v) != id {
		s.log.Error("a stored blob does not hash to its id: not served, stored again at its next upload", "blob", fmt.Sprintf("%x", id[:8]))
		return fmt.Errorf("%w: its %d stored bytes do not hash to its id", ErrBlobNotFound, len(v))
	}
	s.verified.add(id)
	return nil
}

func (b BlobInfo) marshal() []byte {
	out := make([]byte, 0, blobInfoSize)
	out = append(out, blobVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(b.Size))
	out = binary.BigEndian.AppendUint64(out, uint64(b.StoredAt))
	out = binary.BigEndian.AppendUint64(out, uint64(b.ExpiresAt))
	return append(out, b.Uploader...)
}

// ParseBlobInfo parses a blob record (shared with relay/clusterstore).
func ParseBlobInfo(v []byte) (BlobInfo, error) {
	if len(v) != blobInfoSize || v[0] != blobVersion {
		return BlobInfo{}, fmt.Errorf("relaystore: blob record of %d bytes", len(v))
	}
	return BlobInfo{
		Size:      int(binary.BigEndian.Uint32(v[1:])),
		StoredAt:  int64(binary.BigEndian.Uint64(v[5:])),
		ExpiresAt: int64(binary.BigEndian.Uint64(v[13:])),
		Uploader:  append([]byte(nil), v[21:]...),
	}, nil
}

// MarshalBlobInfo is the record's encoding (shared with relay/clusterstore).
func MarshalBlobInfo(b BlobInfo) []byte { return b.marshal() }

// CheckBlob checks a blob before storing it: its size is a padding bucket and its bytes
// hash to id; the uploader is a mailbox id.
func CheckBlob(uploader []byte, id relaywire.BlobID, data []byte) error {
	if !validMailbox(uploader) {
		return ErrUnknownMailbox
	}
	if !relaywire.ValidBlobSize(len(data)) {
		return fmt.Errorf("%w: %d bytes", ErrBlobSize, len(data))
	}
	if relaywire.BlobIDOf(data) != id {
		return ErrBlobMismatch
	}
	return nil
}

func blobKey(prefix byte, id relaywire.BlobID) []byte { return append([]byte{prefix}, id[:]...) }

// PutBlob stores data under id (its SHA-256) for uploader, durably, under q. If the blob is
// held already it only moves its expiry to now + q.TTL (stored is false) and charges
// nobody. ErrBlobQuota when the uploader's blobs would exceed q.MaxBytes.
func (s *Store) PutBlob(ctx context.Context, uploader []byte, id relaywire.BlobID, data []byte, now time.Time, q BlobQuota) (stored bool, err error) {
	if err := CheckBlob(uploader, id, data); err != nil {
		return false, err
	}
	up := append([]byte(nil), uploader...)
	size := int64(len(data))
	err = s.update(ctx, func(w *writeTx) error {
		stored = false
		bw := &blobWrite{w: w}
		defer bw.flush()
		if ok, err := s.touchBlob(bw, id, now, q); ok || err != nil {
			return err
		}
		u, err := bw.usage(up)
		if err != nil {
			return err
		}
		if q.MaxBytes > 0 && u.bytes+size > q.MaxBytes {
			return fmt.Errorf("%w: %d of %d bytes held, %d more refused", ErrBlobQuota, u.bytes, q.MaxBytes, size)
		}
		u.blobs++
		u.bytes += size
		bw.setUsage(up, u)
		w.set(blobKey(pfxBlob, id), data)
		info := BlobInfo{Size: len(data), StoredAt: now.UnixMilli(), ExpiresAt: now.Add(q.TTL).UnixMilli(), Uploader: up}
		w.set(blobKey(pfxBlobInfo, id), info.marshal())
		stored = true
		w.afterCommit(func() {
			s.blobTotals.blobs.Add(1)
			s.blobTotals.bytes.Add(size)
		})
		return nil
	})
	return stored, err
}

// TouchBlob moves a held blob's expiry to now + q.TTL (an upload of bytes the relay has);
// ErrBlobNotFound when it is not held.
func (s *Store) TouchBlob(ctx context.Context, id relaywire.BlobID, now time.Time, q BlobQuota) error {
	return s.update(ctx, func(w *writeTx) error {
		bw := &blobWrite{w: w}
		defer bw.flush()
		ok, err := s.touchBlob(bw, id, now, q)
		if err == nil && !ok {
			err = ErrBlobNotFound
		}
		return err
	})
}

// touchBlob refreshes id's expiry if it is held and alive; ok says whether it was.
func (s *Store) touchBlob(bw *blobWrite, id relaywire.BlobID, now time.Time, q BlobQuota) (bool, error) {
	w := bw.w
	v, err := w.get(blobKey(pfxBlobInfo, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	info, err := ParseBlobInfo(v)
	if err != nil {
		return false, err
	}
	if info.ExpiresAt <= now.UnixMilli() {
		// Expired, purge pending: delete it now and store it afresh.
		s.deleteBlob(bw, id, info)
		return false, nil
	}
	if !s.verified.has(id) {
		// Renew only bytes that are the blob: others are deleted, and the upload stores it.
		data, err := w.get(blobKey(pfxBlob, id))
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return false, err
		}
		if s.checkBlobBytes(id, info, data) != nil {
			s.verified.forget(id)
			s.deleteBlob(bw, id, info)
			return false, nil
		}
	}
	if exp := now.Add(q.TTL).UnixMilli(); exp > info.ExpiresAt {
		info.ExpiresAt = exp
		w.set(blobKey(pfxBlobInfo, id), info.marshal())
	}
	return true, nil
}

// deleteBlob deletes a blob and charges it back to its uploader.
func (s *Store) deleteBlob(bw *blobWrite, id relaywire.BlobID, info BlobInfo) {
	w := bw.w
	w.del(blobKey(pfxBlob, id))
	w.del(blobKey(pfxBlobInfo, id))
	if u, err := bw.usage(info.Uploader); err == nil {
		u.blobs -= min(u.blobs, 1)
		u.bytes -= min(u.bytes, int64(info.Size))
		bw.setUsage(info.Uploader, u)
	}
	w.afterCommit(func() {
		s.blobTotals.blobs.Add(-1)
		s.blobTotals.bytes.Add(-int64(info.Size))
	})
}

// blobUse is an uploader's charge.
type blobUse struct{ blobs, bytes int64 }

func (u blobUse) marshal() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(u.blobs)), uint64(u.bytes))
}

// blobWrite is one write function's view of uploader usage: its own changes are not
// visible to its reads, so it keeps them and writes each once (flush).
type blobWrite struct {
	w   *writeTx
	use map[string]blobUse
}

func (bw *blobWrite) usage(uploader []byte) (blobUse, error) {
	if u, ok := bw.use[string(uploader)]; ok {
		return u, nil
	}
	return bw.w.blobUsage(uploader)
}

func (bw *blobWrite) setUsage(uploader []byte, u blobUse) {
	if bw.use == nil {
		bw.use = map[string]blobUse{}
	}
	bw.use[string(uploader)] = u
}

// flush writes the changed usage records (a returned error discards them with the rest).
func (bw *blobWrite) flush() {
	for k, u := range bw.use {
		if u.blobs <= 0 {
			bw.w.del(key(pfxBlobUsage, []byte(k)))
		} else {
			bw.w.set(key(pfxBlobUsage, []byte(k)), u.marshal())
		}
	}
}

func (w *writeTx) blobUsage(uploader []byte) (blobUse, error) {
	v, err := w.get(key(pfxBlobUsage, uploader))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return blobUse{}, nil
	}
	if err != nil {
		return blobUse{}, err
	}
	if len(v) != 16 {
		return blobUse{}, fmt.Errorf("relaystore: blob usage of %d bytes", len(v))
	}
	return blobUse{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

// StatBlob returns what the store holds of id; ErrBlobNotFound when absent or expired.
func (s *Store) StatBlob(id relaywire.BlobID, now time.Time) (BlobInfo, error) {
	var info BlobInfo
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		info, err = statBlob(txn, id, now)
		return err
	})
	return info, err
}

func statBlob(txn *badger.Txn, id relaywire.BlobID, now time.Time) (BlobInfo, error) {
	it, err := txn.Get(blobKey(pfxBlobInfo, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return BlobInfo{}, ErrBlobNotFound
	}
	if err != nil {
		return BlobInfo{}, err
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return BlobInfo{}, err
	}
	info, err := ParseBlobInfo(v)
	if err != nil {
		return BlobInfo{}, err
	}
	if info.ExpiresAt <= now.UnixMilli() {
		return BlobInfo{}, ErrBlobNotFound
	}
	return info, nil
}

// ReadBlob returns n bytes of blob id from off (the range must lie within the blob). Bytes
// that do not hash to the id (checked once per blob per process) are never served: the
// answer is ErrBlobNotFound, and the next upload of the blob stores it again.
func (s *Store) ReadBlob(id relaywire.BlobID, off, n int, now time.Time) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		info, err := statBlob(txn, id, now)
		if err != nil {
			return err
		}
		if off < 0 || n < 0 || off+n > info.Size {
			return fmt.Errorf("relaystore: range %d+%d beyond a blob of %d bytes", off, n, info.Size)
		}
		it, err := txn.Get(blobKey(pfxBlob, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrBlobNotFound
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if err := s.checkBlobBytes(id, info, v); err != nil {
				return err
			}
			out = bytes.Clone(v[off : off+n])
			return nil
		})
	})
	return out, err
}

// BlobUsage returns the blobs and bytes charged to uploader.
func (s *Store) BlobUsage(uploader []byte) (blobs, bytes int64, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		w := &writeTx{txn: txn}
		u, err := w.blobUsage(uploader)
		blobs, bytes = u.blobs, u.bytes
		return err
	})
	return blobs, bytes, err
}

// BlobStats returns the blob totals.
func (s *Store) BlobStats() BlobStats {
	return BlobStats{Blobs: s.blobTotals.blobs.Load(), Bytes: s.blobTotals.bytes.Load()}
}

// PurgeBlobs deletes every blob whose TTL ended at or before now, in rounds of at most
// 1024, and returns how many it deleted.
func (s *Store) PurgeBlobs(ctx context.Context, now time.Time) (int, error) {
	total := 0
	nowMs := now.UnixMilli()
	for ctx.Err() == nil {
		var expired []relaywire.BlobID
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlobInfo}, PrefetchValues: true, PrefetchSize: 256})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(expired) < 1024; it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				info, err := ParseBlobInfo(v)
				if err != nil {
					return err
				}
				if info.ExpiresAt <= nowMs {
					var id relaywire.BlobID
					copy(id[:], it.Item().Key()[1:])
					expired = append(expired, id)
				}
			}
			return nil
		})
		if err != nil || len(expired) == 0 {
			return total, err
		}
		deleted := 0
		err = s.update(ctx, func(w *writeTx) error {
			deleted = 0
			bw := &blobWrite{w: w}
			defer bw.flush()
			for _, id := range expired {
				v, err := w.get(blobKey(pfxBlobInfo, id))
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				info, err := ParseBlobInfo(v)
				if err != nil {
					return err
				}
				if info.ExpiresAt > nowMs {
					continue // uploaded again meanwhile
				}
				s.deleteBlob(bw, id, info)
				deleted++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if len(expired) < 1024 {
			break
		}
	}
	return total, ctx.Err()
}

// loadBlobs sums the blob totals at Open.
func (s *Store) loadBlobs(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlobInfo}, PrefetchValues: true, PrefetchSize: 256})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		info, err := ParseBlobInfo(v)
		if err != nil {
			return fmt.Errorf("relaystore: blobs: %w", err)
		}
		s.blobTotals.blobs.Add(1)
		s.blobTotals.bytes.Add(int64(info.Size))
	}
	return nil
}
