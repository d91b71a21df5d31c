package mediarec

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
// opened, so neither can its chunks (doc.go).
type Sealer interface {
	SealUntil(tx *store.Tx, expiresAt int64, ad, plaintext []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	Release(tx *store.Tx, sealed []byte) error
}

// Records reads and writes the records, sealing them with Sealer (nil: none is sealed).
type Records struct {
	Sealer Sealer
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
func (r Records) mediaUntil(tx *store.Tx, id string, md *Media) (until, error) {
	if r.Sealer == nil {
		return until{set: true, lasting: true}, nil
	}
	refOf := id
	if md.Parent != "" {
		refOf = md.Parent
	}
	var u until
	err := tx.Iterate(store.IterOptions{Prefix: RefPrefix(refOf)}, func(_, v []byte) (bool, error) {
		u = u.or(parseRef(v))
		return !u.lasting, nil
	})
	if !u.set {
		u = until{set: true, pending: true}
	}
	return u, err
}

// fileUntil is how long file fid must stay readable: the longest of its media ids'.
func (r Records) fileUntil(tx *store.Tx, fid string) (until, error) {
	if r.Sealer == nil {
		return until{set: true, lasting: true}, nil
	}
	ids, err := KeysUnder(tx, OnFilePrefix(fid))
	if err != nil {
		return until{}, err
	}
	var u until
	for _, id := range ids {
		md, err := r.GetMedia(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return until{}, err
		}
		mu, err := r.mediaUntil(tx, id, md)
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
func (r Records) getRec(tx *store.Tx, key []byte, v any) (bool, error) {
	b, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if sealedValue(b) {
		if r.Sealer == nil {
			return false, fmt.Errorf("media: record %s is sealed at rest and no sealer is set", store.KeyPrefix(key))
		}
		pt, err := r.Sealer.Open(b, key)
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
func (r Records) putRec(tx *store.Tx, key []byte, v any, u until) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("media: encode %s: %w", store.KeyPrefix(key), err)
	}
	defer clear(b)
	if err := r.release(tx, key); err != nil {
		return err
	}
	if r.Sealer == nil || u.lasting {
		return tx.Set(key, b)
	}
	at := u.at
	if u.pending {
		at = 0
	}
	sealed, err := r.Sealer.SealUntil(tx, at, key, b)
	if errors.Is(err, shredkeys.ErrExpired) {
		// Its messages expired and are being deleted: keep it readable only until then.
		sealed, err = r.Sealer.SealUntil(tx, 0, key, b)
	}
	if err != nil {
		return fmt.Errorf("media: seal %s: %w", store.KeyPrefix(key), err)
	}
	return tx.Set(key, sealed)
}

// release uncounts the sealed value at key, if it is one, from its bucket.
func (r Records) release(tx *store.Tx, key []byte) error {
	if r.Sealer == nil {
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
	if err := r.Sealer.Release(tx, old); err != nil && !errors.Is(err, shredkeys.ErrMalformed) {
		return fmt.Errorf("media: release %s: %w", store.KeyPrefix(key), err)
	}
	return nil
}

// Delete deletes the record at key, released from its bucket if it was sealed.
func (r Records) Delete(tx *store.Tx, key []byte) error {
	if err := r.release(tx, key); err != nil {
		return err
	}
	return tx.Delete(key)
}

// PutMedia writes media record md of id, sealed for as long as its messages need it.
func (r Records) PutMedia(tx *store.Tx, id string, md *Media) error {
	u, err := r.mediaUntil(tx, id, md)
	if err != nil {
		return err
	}
	return r.putRec(tx, MediaKey(id), md, u)
}

// PutFile writes file record f of fid, sealed for as long as its media need it.
func (r Records) PutFile(tx *store.Tx, fid string, f *File) error {
	u, err := r.fileUntil(tx, fid)
	if err != nil {
		return err
	}
	return r.putRec(tx, FileKey(fid), f, u)
}

// PutUpload writes upload record u of id: sealed under the Pending bucket of now (with a
// sealer) while it is unfinished and so holds the file's key and name.
func (r Records) PutUpload(tx *store.Tx, id string, u *Upload) error {
	un := until{set: true, lasting: true}
	if u.SealedTail && u.Media == "" {
		un = until{set: true, pending: true}
	}
	return r.putRec(tx, UploadKey(id), u, un)
}

// Tail reads upload id's tail (nil when there is none), opening it if it is sealed.
func (r Records) Tail(tx *store.Tx, id string, u *Upload) ([]byte, error) {
	b, err := tx.Get(TailKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || !u.SealedTail {
		return b, err
	}
	if r.Sealer == nil {
		return nil, fmt.Errorf("media: upload %s: its tail is sealed at rest and no sealer is set", id)
	}
	pt, err := r.Sealer.Open(b, TailKey(id))
	if err != nil {
		return nil, fmt.Errorf("media: upload %s: open tail: %w", id, err)
	}
	return pt, nil
}

// PutTail writes upload id's tail, sealed under the Pending bucket of now when u says so.
func (r Records) PutTail(tx *store.Tx, id string, u *Upload, tail []byte) error {
	if !u.SealedTail {
		return tx.Set(TailKey(id), tail)
	}
	if err := r.DeleteTail(tx, id, u); err != nil {
		return err
	}
	if r.Sealer == nil {
		return fmt.Errorf("media: upload %s: its tail is sealed at rest and no sealer is set", id)
	}
	sealed, err := r.Sealer.SealUntil(tx, 0, TailKey(id), tail)
	if err != nil {
		return fmt.Errorf("media: upload %s: seal tail: %w", id, err)
	}
	return tx.Set(TailKey(id), sealed)
}

// DeleteTail deletes upload id's tail, released from its bucket when it was sealed.
func (r Records) DeleteTail(tx *store.Tx, id string, u *Upload) error {
	if u.SealedTail && r.Sealer != nil {
		if old, err := tx.Get(TailKey(id)); err == nil {
			if err := r.Sealer.Release(tx, old); err != nil && !errors.Is(err, shredkeys.ErrMalformed) {
				return fmt.Errorf("media: upload %s: release tail: %w", id, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(TailKey(id))
}
