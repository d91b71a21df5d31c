package media

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// Sealer seals, at rest, the records of media that only disappearing messages use, under
// the key of their expiry's bucket (node/shredkeys; *shredkeys.Keyring is one): once that
// key is destroyed, no copy of a media's name or file key that Badger still holds can be
// opened, so neither can its chunks (doc.go, "Disappearing media").
type Sealer interface {
	SealUntil(tx *store.Tx, expiresAt int64, ad, plaintext []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	Release(tx *store.Tx, sealed []byte) error
}

// until is how long a record must stay readable: lasting (kept plain, under the store's
// own sealing only), pending (sealed under the Pending bucket of now: a fresh upload no
// message uses yet, or a received message not read yet), or until at (Unix ms: sealed
// under the Expiry bucket of at).
type until struct {
	set     bool
	lasting bool
	pending bool
	at      int64
}

// or is the longer of u and v: lasting over pending over the later expiry.
func (u until) or(v until) until {
	switch {
	case !u.set:
		return v
	case !v.set:
		return u
	case u.lasting || v.lasting:
		return until{set: true, lasting: true}
	case u.pending || v.pending:
		return until{set: true, pending: true}
	}
	return until{set: true, at: max(u.at, v.at)}
}

// Reference values (media/r/<media id>/<message id>): what the message's timer is.
const (
	refLasting = ""  // a message without a timer (and every reference older than timers)
	refPending = "p" // a disappearing message whose timer has not started
	refExpiry  = "e" // "e" ‖ decimal Unix ms: a disappearing message expiring then
)

func refValue(disappearing bool, expiresAt int64) string {
	switch {
	case !disappearing:
		return refLasting
	case expiresAt <= 0:
		return refPending
	}
	return refExpiry + strconv.FormatInt(expiresAt, 10)
}

// parseRef reads a reference value; an unknown one is lasting (never sealed, never lost).
func parseRef(v []byte) until {
	s := string(v)
	switch {
	case s == refPending:
		return until{set: true, pending: true}
	case len(s) > 1 && s[:1] == refExpiry:
		if at, err := strconv.ParseInt(s[1:], 10, 64); err == nil && at > 0 {
			return until{set: true, at: at}
		}
	}
	return until{set: true, lasting: true}
}

// mediaUntil is how long media md (id) must stay readable: the longest of the messages
// that refer to it (to its parent, for a thumbnail); pending when none does yet.
func (m *Store) mediaUntil(tx *store.Tx, id string, md *mediaRecord) (until, error) {
	if m.opts.Sealer == nil {
		return until{set: true, lasting: true}, nil
	}
	refOf := id
	if md.Parent != "" {
		refOf = md.Parent
	}
	var u until
	err := tx.Iterate(store.IterOptions{Prefix: refPrefix(refOf)}, func(_, v []byte) (bool, error) {
		u = u.or(parseRef(v))
		return !u.lasting, nil
	})
	if !u.set {
		u = until{set: true, pending: true}
	}
	return u, err
}

// fileUntil is how long file fid must stay readable: the longest of its media ids'.
func (m *Store) fileUntil(tx *store.Tx, fid FileID) (until, error) {
	if m.opts.Sealer == nil {
		return until{set: true, lasting: true}, nil
	}
	ids, err := keysUnder(tx, onFilePrefix(fid))
	if err != nil {
		return until{}, err
	}
	var u until
	for _, id := range ids {
		md, err := m.getMedia(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return until{}, err
		}
		mu, err := m.mediaUntil(tx, id, md)
		if err != nil {
			return until{}, err
		}
		if u = u.or(mu); u.lasting {
			break
		}
	}
	if !u.set {
		u = until{set: true, pending: true}
	}
	return u, nil
}

// sealedValue reports whether a media/f or media/m value is sealed under a bucket key
// (node/shredkeys content starts with its version, 0x01) rather than JSON.
func sealedValue(v []byte) bool { return len(v) > 0 && v[0] != '{' }

// getRec reads the JSON record at key into v, opening it first if it is sealed. A record
// whose bucket key is destroyed (its messages expired) is not found.
func (m *Store) getRec(tx *store.Tx, key []byte, v any) (bool, error) {
	b, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if sealedValue(b) {
		if m.opts.Sealer == nil {
			return false, fmt.Errorf("media: record %s is sealed at rest and no sealer is set", store.KeyPrefix(key))
		}
		pt, err := m.opts.Sealer.Open(b, key)
		if errors.Is(err, shredkeys.ErrShredded) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("media: open record %s: %w", store.KeyPrefix(key), err)
		}
		defer clear(pt)
		b = pt
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("media: record %s: %w", store.KeyPrefix(key), err)
	}
	return true, nil
}

// putRec writes v at key as JSON: plain when u is lasting (or there is no sealer), else
// sealed under u's bucket. The value it replaces is released from its bucket.
func (m *Store) putRec(tx *store.Tx, key []byte, v any, u until) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("media: encode %s: %w", store.KeyPrefix(key), err)
	}
	defer clear(b)
	if err := m.release(tx, key); err != nil {
		return err
	}
	if m.opts.Sealer == nil || u.lasting {
		return tx.Set(key, b)
	}
	at := u.at
	if u.pending {
		at = 0
	}
	sealed, err := m.opts.Sealer.SealUntil(tx, at, key, b)
	if errors.Is(err, shredkeys.ErrExpired) {
		// Its messages expired and are being deleted: keep it readable only until then.
		sealed, err = m.opts.Sealer.SealUntil(tx, 0, key, b)
	}
	if err != nil {
		return fmt.Errorf("media: seal %s: %w", store.KeyPrefix(key), err)
	}
	return tx.Set(key, sealed)
}

// release uncounts the sealed value at key, if it is one, from its bucket.
func (m *Store) release(tx *store.Tx, key []byte) error {
	if m.opts.Sealer == nil {
		return nil
	}
	old, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sealedValue(old) {
		return nil
	}
	if err := m.opts.Sealer.Release(tx, old); err != nil && !errors.Is(err, shredkeys.ErrMalformed) {
		return fmt.Errorf("media: release %s: %w", store.KeyPrefix(key), err)
	}
	return nil
}

// deleteRec deletes the record at key, released from its bucket if it was sealed.
func (m *Store) deleteRec(tx *store.Tx, key []byte) error {
	if err := m.release(tx, key); err != nil {
		return err
	}
	return tx.Delete(key)
}

// putMedia writes media record md of id, sealed for as long as its messages need it.
func (m *Store) putMedia(tx *store.Tx, id string, md *mediaRecord) error {
	u, err := m.mediaUntil(tx, id, md)
	if err != nil {
		return err
	}
	return m.putRec(tx, mediaKey(id), md, u)
}

// putFile writes file record f of fid, sealed for as long as its media need it.
func (m *Store) putFile(tx *store.Tx, fid FileID, f *fileRecord) error {
	u, err := m.fileUntil(tx, fid)
	if err != nil {
		return err
	}
	return m.putRec(tx, fileKey(fid), f, u)
}

// RefUntil says, in tx, what the timer of message msgID, which refers to media id (Ref), is:
// none (disappearing false), not started (expiresAt 0: received, not read yet) or
// expiring at expiresAt (Unix ms). The media's records (and its thumbnail's) are then
// sealed for the longest of its messages: plain once a lasting message uses it, else
// under the bucket of the latest expiry, or the Pending bucket while one is unread. A
// media id or reference that does not exist is nothing to do.
func (m *Store) RefUntil(tx *store.Tx, id, msgID string, disappearing bool, expiresAt int64) error {
	cur, err := tx.Get(refKey(id, msgID))
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
	if err := tx.Set(refKey(id, msgID), []byte(v)); err != nil {
		return err
	}
	return m.reseal(tx, id)
}

// reseal writes media id's records, its thumbnail's and their files' again, each sealed
// for as long as it is now needed.
func (m *Store) reseal(tx *store.Tx, id string) error {
	md, err := m.getMedia(tx, id)
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
		rec, err := m.getMedia(tx, mid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := m.putMedia(tx, mid, rec); err != nil {
			return err
		}
		fid, err := parseFileID(rec.File)
		if err != nil {
			return err
		}
		f, err := m.getFile(tx, fid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := m.putFile(tx, fid, f); err != nil {
			return err
		}
	}
	return nil
}

// Expire removes message msgID's reference to media id at the message's expiry, in tx.
// When no other message refers to the media, it goes now rather than at a later GC: its
// records (and its thumbnail's) are deleted, and, once tx commits, the chunk files of any
// file no other media uses.
func (m *Store) Expire(tx *store.Tx, id, msgID string) error {
	if err := Unref(tx, id, msgID); err != nil {
		return err
	}
	if refd, err := hasPrefix(tx, refPrefix(id)); err != nil || refd {
		return err
	}
	md, err := m.getMedia(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	drop := []string{id}
	if md.Thumb != "" {
		drop = append(drop, md.Thumb)
	}
	gone, err := m.dropMedia(tx, drop)
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		tx.OnCommit(func() {
			for _, h := range gone {
				if err := m.blobs.Remove(h); err != nil {
					m.log.Warn("removing a chunk of expired media", "err", err)
				}
			}
		})
	}
	return nil
}

// putUpload writes upload record u of id: sealed under the Pending bucket of now (with a
// sealer) while it is unfinished and so holds the file's key and name.
func (m *Store) putUpload(tx *store.Tx, id string, u *uploadRecord) error {
	un := until{set: true, lasting: true}
	if u.SealedTail && u.Media == "" {
		un = until{set: true, pending: true}
	}
	return m.putRec(tx, uploadKey(id), u, un)
}

// getTail reads upload id's tail (nil when there is none), opening it if it is sealed.
func (m *Store) getTail(tx *store.Tx, id string, u *uploadRecord) ([]byte, error) {
	b, err := tx.Get(tailKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || !u.SealedTail {
		return b, err
	}
	if m.opts.Sealer == nil {
		return nil, fmt.Errorf("media: upload %s: its tail is sealed at rest and no sealer is set", id)
	}
	pt, err := m.opts.Sealer.Open(b, tailKey(id))
	if err != nil {
		return nil, fmt.Errorf("media: upload %s: open tail: %w", id, err)
	}
	return pt, nil
}

// putTail writes upload id's tail, sealed under the Pending bucket of now when u says so.
func (m *Store) putTail(tx *store.Tx, id string, u *uploadRecord, tail []byte) error {
	if !u.SealedTail {
		return tx.Set(tailKey(id), tail)
	}
	if err := m.deleteTail(tx, id, u); err != nil {
		return err
	}
	if m.opts.Sealer == nil {
		return fmt.Errorf("media: upload %s: its tail is sealed at rest and no sealer is set", id)
	}
	sealed, err := m.opts.Sealer.SealUntil(tx, 0, tailKey(id), tail)
	if err != nil {
		return fmt.Errorf("media: upload %s: seal tail: %w", id, err)
	}
	return tx.Set(tailKey(id), sealed)
}

// deleteTail deletes upload id's tail, released from its bucket when it was sealed.
func (m *Store) deleteTail(tx *store.Tx, id string, u *uploadRecord) error {
	if u.SealedTail && m.opts.Sealer != nil {
		if old, err := tx.Get(tailKey(id)); err == nil {
			if err := m.opts.Sealer.Release(tx, old); err != nil && !errors.Is(err, shredkeys.ErrMalformed) {
				return fmt.Errorf("media: upload %s: release tail: %w", id, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(tailKey(id))
}
