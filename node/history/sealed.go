package history

import (
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// Sealer seals the content of disappearing messages under the key of their expiry's
// bucket (node/shredkeys; *shredkeys.Keyring is one), so that once the bucket's key is
// destroyed no copy of the record Badger still holds can be opened.
type Sealer interface {
	// SealUntil seals plaintext in tx for content expiring at expiresAt (Unix ms; 0:
	// its timer has not started). Past its expiry: shredkeys.ErrExpired.
	SealUntil(tx *store.Tx, expiresAt int64, ad, plaintext []byte) ([]byte, error)
	// Open opens sealed content; under a destroyed key: shredkeys.ErrShredded.
	Open(sealed, ad []byte) ([]byte, error)
	// Release uncounts sealed content deleted or replaced in tx.
	Release(tx *store.Tx, sealed []byte) error
}

// KeySealed is where the sealed form of disappearing message id is stored: the whole
// Message record (EncodeMessage; JSON when written before store format 2), sealed by SealUntil with this key as associated data. The record
// at KeyMsg(id) then keeps only what shows no content (Sealed true; Body, ReplyTo,
// Attachments, Reactions, EditedAt, EditTS and ReactTS empty): ids, order, times, status,
// receipts, the timer and expires_at (docs/PROTOCOL.md, "Disappearing messages at rest").
func KeySealed(id string) []byte { return []byte("mz/" + id) }

// sealable reports whether r's content is sealed when s is set: a disappearing message
// that still has content.
func sealable(s Sealer, r *Message) bool {
	return s != nil && r.Disappear > 0 && !r.Deleted && !r.System
}

// putSealed writes r's content sealed at KeySealed and a record without it at KeyMsg; or,
// when r is not sealable, drops a sealed copy left from before (released).
func putSealed(tx *store.Tx, s Sealer, r *Message) (*Message, error) {
	k := KeySealed(r.ID)
	old, err := tx.Get(k)
	switch {
	case errors.Is(err, store.ErrNotFound):
		old = nil
	case err != nil:
		return nil, err
	}
	if old != nil && s != nil {
		if err := s.Release(tx, old); err != nil && !errors.Is(err, shredkeys.ErrMalformed) {
			return nil, err
		}
	}
	if !sealable(s, r) {
		if old != nil {
			if err := tx.Delete(k); err != nil {
				return nil, err
			}
		}
		r.Sealed, r.Media = false, nil
		return r, nil
	}
	r.Sealed, r.Media = false, nil
	pt := EncodeMessage(r)
	var exp int64
	if r.ExpiresAt != nil {
		exp = max(*r.ExpiresAt, 1)
	}
	sealed, err := s.SealUntil(tx, exp, k, pt)
	clear(pt)
	stub := *r
	stub.Sealed, stub.Body, stub.ReplyTo, stub.Attachments = true, "", nil, nil
	stub.Reactions, stub.EditedAt, stub.EditTS, stub.ReactTS = nil, nil, "", nil
	stub.Media = mediaIDs(r)
	if errors.Is(err, shredkeys.ErrExpired) {
		// Expired already (the expiry loop has not come to it yet): the content is not
		// stored again; the loop deletes the rest.
		stub.Sealed, stub.Deleted = false, true
		if old != nil {
			err = tx.Delete(k)
		} else {
			err = nil
		}
		return &stub, err
	}
	if err != nil {
		return nil, fmt.Errorf("history: seal message %q: %w", r.ID, err)
	}
	if err := tx.Set(k, sealed); err != nil {
		return nil, err
	}
	return &stub, nil
}

// mediaIDs lists the media ids (attachments and thumbnails) r refers to.
func mediaIDs(r *Message) []string {
	var ids []string
	for _, a := range r.Attachments {
		ids = append(ids, a.MediaID)
		if a.Thumbnail != nil && *a.Thumbnail != "" {
			ids = append(ids, *a.Thumbnail)
		}
	}
	return ids
}

// MessageMedia lists the media ids message id refers to (to release them when it is
// deleted), also when its sealed content can no longer be opened: the record without
// content keeps them (random ids, no content).
func MessageMedia(tx *store.Tx, s Sealer, id string) ([]string, error) {
	r, err := GetMessage(tx, s, id)
	if err != nil {
		return nil, err
	}
	if ids := mediaIDs(r); len(ids) > 0 {
		return ids, nil
	}
	return r.Media, nil
}

// openSealed returns the full record of stub r (Sealed): its content opened from
// KeySealed. Content whose key is gone (it expired) or that s cannot open reads as
// deleted: the stub with Deleted set.
func openSealed(tx *store.Tx, s Sealer, r *Message) (*Message, error) {
	gone := func() *Message { r.Deleted, r.Sealed = true, false; return r } // keeps Media
	if s == nil {
		return gone(), nil
	}
	k := KeySealed(r.ID)
	sealed, err := tx.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return gone(), nil
	}
	if err != nil {
		return nil, err
	}
	pt, err := s.Open(sealed, k)
	if errors.Is(err, shredkeys.ErrShredded) {
		return gone(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: open sealed message %q: %w", r.ID, err)
	}
	var full Message
	err = DecodeMessage(pt, &full)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("history: sealed message %q: %w", r.ID, err)
	}
	if full.ID != r.ID || full.V != Version {
		return nil, fmt.Errorf("history: sealed message %q holds %q version %d", r.ID, full.ID, full.V)
	}
	// The stub is written with every update; what it holds is current.
	full.Status, full.Error, full.Delivered, full.Read, full.Total = r.Status, r.Error, r.Delivered, r.Read, r.Total
	full.ExpiresAt, full.Deleted, full.Sealed, full.Media = r.ExpiresAt, r.Deleted, false, nil
	return &full, nil
}
