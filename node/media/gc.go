package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/petrel-chat/petrel/node/media/mediarec"
	"github.com/petrel-chat/petrel/node/store"
)

// Ref records that message msgID refers to media id (and so to its thumbnail): it is kept
// until every such message Unrefs it, as a message without a timer until RefUntil says
// otherwise. An unknown media id is ErrNotFound.
func Ref(tx *store.Tx, id, msgID string) error { return mediarec.Ref(tx, id, msgID) }

// Unref removes message msgID's reference to media id. The media goes at the next GC
// after its grace period once nothing refers to it.
func Unref(tx *store.Tx, id, msgID string) error { return mediarec.Unref(tx, id, msgID) }

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
		dropped, media, files, err := m.rec.Drop(tx, drop)
		if err != nil {
			return err
		}
		shredded, err := m.rec.DropShreddedFiles(tx)
		if err != nil {
			return err
		}
		st.Media, st.Files = media, files+shredded
		for _, h := range dropped {
			gone = append(gone, h)
		}
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
			if err := m.rec.Delete(tx, uploadKey(id)); err != nil {
				return err
			}
			if err := m.rec.DeleteTail(tx, id, stale[i]); err != nil {
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
