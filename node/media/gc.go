package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// Ref records that message msgID refers to media id (and so to its thumbnail): it is kept
// until every such message Unrefs it. An unknown media id is ErrNotFound.
func Ref(tx *store.Tx, id, msgID string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: media id", ErrNotFound)
	}
	if _, err := tx.Get(mediaKey(id)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: media %q", ErrNotFound, id)
	} else if err != nil {
		return err
	}
	if msgID == "" || len(msgID) > 128 {
		return fmt.Errorf("media: ref: bad message id")
	}
	return tx.Set(refKey(id, msgID), nil)
}

// Unref removes message msgID's reference to media id. The media goes at the next GC
// after its grace period once nothing refers to it.
func Unref(tx *store.Tx, id, msgID string) error {
	return tx.Delete(refKey(id, msgID))
}

// GCStats says what a GC removed.
type GCStats struct {
	Media, Files, Uploads, Chunks int
}

// GC removes media that no message refers to once they are older than the grace period
// (a thumbnail goes with its media), files no media points to (records, then chunks),
// upload sessions older than their TTL, and chunk files no record names that are older
// than the grace period (left by a crash between writing a chunk and recording it).
func (m *Store) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	now := m.opts.Now()
	graceMS := now.Add(-m.opts.Grace).UnixMilli()
	uploadMS := now.Add(-m.opts.UploadTTL).UnixMilli()
	var gone []Hash
	err := m.db.Update(ctx, func(tx *store.Tx) error {
		st, gone = GCStats{}, nil
		var drop []string
		err := tx.Iterate(store.IterOptions{Prefix: []byte(keyMedia)}, func(k, v []byte) (bool, error) {
			id := string(k[len(keyMedia):])
			md, err := m.getMedia(tx, id)
			if errors.Is(err, ErrNotFound) {
				drop = append(drop, id) // sealed under a key destroyed: its messages expired
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if md.Parent != "" {
				if _, err := m.getMedia(tx, md.Parent); err == nil {
					return true, nil
				}
				drop = append(drop, id) // an orphaned thumbnail
				return true, nil
			}
			if md.Created > graceMS {
				return true, nil
			}
			refd, err := hasPrefix(tx, refPrefix(id))
			if err != nil || refd {
				return err == nil, err
			}
			drop = append(drop, id)
			if md.Thumb != "" {
				drop = append(drop, md.Thumb)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		var files, shredded int
		if gone, st.Media, files, err = m.dropMediaCount(tx, drop); err != nil {
			return err
		}
		if shredded, err = m.dropShreddedFiles(tx); err != nil {
			return err
		}
		st.Files = files + shredded
		var stale []*uploadRecord
		var staleIDs []string
		err = tx.Iterate(store.IterOptions{Prefix: []byte(keyUpload)}, func(k, _ []byte) (bool, error) {
			id := string(k[len(keyUpload):])
			u, err := m.getUpload(tx, id)
			if err != nil {
				return false, err
			}
			if (u.Media == "" && u.Created < uploadMS) || (u.Media != "" && u.Created < graceMS) {
				stale, staleIDs = append(stale, u), append(staleIDs, id)
				for i := 0; i+32 <= len(u.Chunks); i += 32 {
					gone = append(gone, Hash(u.Chunks[i:i+32]))
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for i, id := range staleIDs {
			if err := m.deleteRec(tx, uploadKey(id)); err != nil {
				return err
			}
			if err := m.deleteTail(tx, id, stale[i]); err != nil {
				return err
			}
			st.Uploads++
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("media: gc: %w", err)
	}
	// Records are gone and durable; now the chunks.
	for _, h := range gone {
		if err := m.blobs.Remove(h); err != nil {
			return st, err
		}
		st.Chunks++
	}
	n, err := m.sweep(now.Add(-m.opts.Grace))
	st.Chunks += n
	return st, err
}

// sweep removes chunk files modified before cutoff that no file or upload record names.
func (m *Store) sweep(cutoff time.Time) (int, error) {
	named := map[Hash]bool{}
	err := m.db.View(func(tx *store.Tx) error {
		add := func(chunks []byte) {
			for i := 0; i+32 <= len(chunks); i += 32 {
				named[Hash(chunks[i:i+32])] = true
			}
		}
		if err := tx.Iterate(store.IterOptions{Prefix: []byte(keyFile)}, func(k, _ []byte) (bool, error) {
			fid, err := parseFileID(string(k[len(keyFile):]))
			if err != nil {
				return true, nil
			}
			f, err := m.getFile(tx, fid)
			if errors.Is(err, ErrNotFound) {
				return true, nil // sealed under a key destroyed: its chunks cannot be opened
			}
			if err != nil {
				return false, err
			}
			add(f.Chunks)
			return true, nil
		}); err != nil {
			return err
		}
		return tx.Iterate(store.IterOptions{Prefix: []byte(keyUpload)}, func(k, _ []byte) (bool, error) {
			u, err := m.getUpload(tx, string(k[len(keyUpload):]))
			if err != nil {
				return false, err
			}
			add(u.Chunks)
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("media: sweep: %w", err)
	}
	n := 0
	err = m.blobs.List(func(h [32]byte, path string) {
		if named[h] {
			return
		}
		if fi, err := os.Stat(path); err == nil && fi.ModTime().Before(cutoff) {
			if os.Remove(path) == nil {
				n++
			}
		}
	})
	return n, err
}

// RunGC runs GC every interval until ctx is done (the node's supervisor owns it). A failed
// round is logged and retried at the next tick.
func (m *Store) RunGC(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if st, err := m.GC(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("media gc failed", "err", err)
			} else if st != (GCStats{}) {
				m.log.Info("media gc", "media", st.Media, "files", st.Files, "uploads", st.Uploads, "chunks", st.Chunks)
			}
		}
	}
}

// dropMedia deletes media ids (listed once or more) and every file no other media id is
// on, in tx, and returns the chunks of those files, to remove once tx commits.
func (m *Store) dropMedia(tx *store.Tx, drop []string) ([]Hash, error) {
	gone, _, _, err := m.dropMediaCount(tx, drop)
	return gone, err
}

func (m *Store) dropMediaCount(tx *store.Tx, drop []string) (gone []Hash, media, files int, err error) {
	fids := map[FileID]bool{}
	for _, id := range drop {
		md, err := m.getMedia(tx, id)
		if errors.Is(err, ErrNotFound) {
			if _, gerr := tx.Get(mediaKey(id)); gerr == nil {
				// Sealed under a key destroyed already: which file it was on cannot be
				// read any more; the record goes, the file's at its own turn, and
				// chunks no record names at the sweep.
				if err := m.deleteRec(tx, mediaKey(id)); err != nil {
					return nil, 0, 0, err
				}
				media++
			}
			continue // listed twice
		}
		if err != nil {
			continue
		}
		fid, err := parseFileID(md.File)
		if err != nil {
			return nil, 0, 0, err
		}
		if err := m.deleteRec(tx, mediaKey(id)); err != nil {
			return nil, 0, 0, err
		}
		if err := tx.Delete(onFileKey(fid, id)); err != nil {
			return nil, 0, 0, err
		}
		fids[fid] = true
		media++
	}
	for fid := range fids {
		if used, err := hasPrefix(tx, onFilePrefix(fid)); err != nil || used {
			if err != nil {
				return nil, 0, 0, err
			}
			continue
		}
		f, err := m.getFile(tx, fid)
		if err != nil {
			continue
		}
		for i := range f.count() {
			gone = append(gone, f.hash(i))
		}
		if err := m.deleteRec(tx, fileKey(fid)); err != nil {
			return nil, 0, 0, err
		}
		if s, _ := store.GetString(tx, sumKey(f.SHA256)); s == fid.String() {
			if err := tx.Delete(sumKey(f.SHA256)); err != nil {
				return nil, 0, 0, err
			}
		}
		files++
	}
	return gone, media, files, nil
}

// dropShreddedFiles deletes the file records sealed under a key destroyed already (their
// media expired and went before their file could be read): their chunk files, named by
// nothing then, go at the sweep.
func (m *Store) dropShreddedFiles(tx *store.Tx) (int, error) {
	if m.opts.Sealer == nil {
		return 0, nil
	}
	var dead [][]byte
	err := tx.Iterate(store.IterOptions{Prefix: []byte(keyFile)}, func(k, v []byte) (bool, error) {
		if !sealedValue(v) {
			return true, nil
		}
		if _, err := m.opts.Sealer.Open(v, k); errors.Is(err, shredkeys.ErrShredded) {
			dead = append(dead, k)
		}
		return true, nil
	})
	for _, k := range dead {
		if err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), err
}
