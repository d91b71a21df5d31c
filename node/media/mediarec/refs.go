package mediarec

import (
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// RefUntil says, in tx, what the timer of message msgID, which refers to media id (Ref), is:
// none (disappearing false), not started (expiresAt 0: received, not read yet) or
// expiring at expiresAt (Unix ms). The media's records (and its thumbnail's) are then
// sealed for the longest of its messages (doc.go). A media id or reference that does not
// exist is nothing to do.
func (r Records) RefUntil(tx *store.Tx, id, msgID string, disappearing bool, expiresAt int64) error {
	cur, err := tx.Get(RefKey(id, msgID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v := refValue(disappearing, expiresAt)
	if string(cur) == v {
		return nil
	}
	if err := tx.Set(RefKey(id, msgID), []byte(v)); err != nil {
		return err
	}
	return r.reseal(tx, id)
}

// reseal writes media id's records, its thumbnail's and their files' again, each sealed
// for as long as it is now needed.
func (r Records) reseal(tx *store.Tx, id string) error {
	md, err := r.GetMedia(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ids := []string{id}
	if md.Thumb != "" {
		ids = append(ids, md.Thumb)
	}
	for _, mid := range ids {
		rec, err := r.GetMedia(tx, mid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.PutMedia(tx, mid, rec); err != nil {
			return err
		}
		f, err := r.GetFile(tx, rec.File)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.PutFile(tx, rec.File, f); err != nil {
			return err
		}
	}
	return nil
}

// Drop deletes media ids (listed once or more) and every file no other media id is on,
// in tx, and returns the chunks of those files (to remove once tx commits) and how many
// media and files went.
func (r Records) Drop(tx *store.Tx, drop []string) (gone [][32]byte, media, files int, err error) {
	fids := map[string]bool{}
	for _, id := range drop {
		md, err := r.GetMedia(tx, id)
		if errors.Is(err, ErrNotFound) {
			if _, gerr := tx.Get(MediaKey(id)); gerr == nil {
				// Sealed under a key destroyed already: which file it was on cannot be
				// read any more; the record goes, the file's with DropShreddedFiles, and
				// chunks no record names at node/media's sweep.
				if err := r.Delete(tx, MediaKey(id)); err != nil {
					return nil, 0, 0, err
				}
				media++
			}
			continue // listed twice
		}
		if err != nil {
			continue
		}
		if err := r.Delete(tx, MediaKey(id)); err != nil {
			return nil, 0, 0, err
		}
		if err := tx.Delete(OnFileKey(md.File, id)); err != nil {
			return nil, 0, 0, err
		}
		fids[md.File] = true
		media++
	}
	for fid := range fids {
		if used, err := HasPrefix(tx, OnFilePrefix(fid)); err != nil || used {
			if err != nil {
				return nil, 0, 0, err
			}
			continue
		}
		f, err := r.GetFile(tx, fid)
		if err != nil {
			continue
		}
		for i := range f.Count() {
			gone = append(gone, f.Hash(i))
		}
		if err := r.Delete(tx, FileKey(fid)); err != nil {
			return nil, 0, 0, err
		}
		if s, _ := store.GetString(tx, SumKey(f.SHA256)); s == fid {
			if err := tx.Delete(SumKey(f.SHA256)); err != nil {
				return nil, 0, 0, err
			}
		}
		files++
	}
	return gone, media, files, nil
}

// DropShreddedFiles deletes the file records sealed under a key destroyed already (their
// media expired and went before their file could be read): their chunk files, named by
// nothing then, go at node/media's sweep.
func (r Records) DropShreddedFiles(tx *store.Tx) (int, error) {
	if r.Sealer == nil {
		return 0, nil
	}
	var dead [][]byte
	err := tx.Iterate(store.IterOptions{Prefix: []byte(KeyFile)}, func(k, v []byte) (bool, error) {
		if !sealedValue(v) {
			return true, nil
		}
		if _, err := r.Sealer.Open(v, k); errors.Is(err, shredkeys.ErrShredded) {
			dead = append(dead, k)
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("media: shredded files: %w", err)
	}
	for _, k := range dead {
		if err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}
