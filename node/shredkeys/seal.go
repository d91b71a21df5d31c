package shredkeys

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/node/store"
	"golang.org/x/crypto/chacha20poly1305"
)

// Specification constants of sealed content (doc.go, "Sealed content").
const (
	contentVersion  = 1
	contentADLabel  = "petrel_v1_shredkeys_content"
	contentHeader   = 1 + bucketIDSize + chacha20poly1305.NonceSizeX // 34
	contentOverhead = contentHeader + chacha20poly1305.Overhead      // 50
)

// Seal seals plaintext under b's key and counts it in b's record, in tx (so the count
// and the caller's write of the sealed bytes commit together). ad is bound to the
// content (use the store key it is written under, so it cannot be moved). A bucket that
// does not exist in tx is ErrNoBucket.
func (k *Keyring) Seal(tx *store.Tx, b Bucket, ad, plaintext []byte) ([]byte, error) {
	if err := k.addRef(tx, b, 1); err != nil {
		return nil, err
	}
	return k.seal(b, ad, plaintext)
}

func (k *Keyring) seal(b Bucket, ad, plaintext []byte) ([]byte, error) {
	bk, err := k.key(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, contentHeader, contentOverhead+len(plaintext))
	out[0] = contentVersion
	b.appendID(out[:1])
	nonce := out[1+bucketIDSize : contentHeader]
	rand.Read(nonce)
	return bk.aead.Seal(out, nonce, plaintext, contentAD(b, ad)), nil
}

// contentAD is label ‖ bucket id ‖ caller's ad.
func contentAD(b Bucket, ad []byte) []byte {
	return append(b.appendID([]byte(contentADLabel)), ad...)
}

// BucketOf returns the bucket sealed content names.
func BucketOf(sealed []byte) (Bucket, error) {
	if len(sealed) < contentOverhead || sealed[0] != contentVersion {
		return Bucket{}, fmt.Errorf("%w: sealed content", ErrMalformed)
	}
	return parseBucketID(sealed[1 : 1+bucketIDSize])
}

// Open authenticates and decrypts content sealed with ad. Content under a destroyed key is
// ErrShredded; under a damaged one ErrKeyDamaged; edited content ErrTampered.
func (k *Keyring) Open(sealed, ad []byte) ([]byte, error) {
	b, err := BucketOf(sealed)
	if err != nil {
		return nil, err
	}
	bk, err := k.key(b)
	if err != nil {
		return nil, err
	}
	pt, err := bk.aead.Open(nil, sealed[1+bucketIDSize:contentHeader], sealed[contentHeader:], contentAD(b, ad))
	if err != nil {
		return nil, ErrTampered
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// Reseal opens content sealed with ad and seals it again under to, in tx: to's count
// goes up and the old bucket's down, with the caller's write of the result, so a crash
// leaves either the old content and counts or the new (a Pending key whose count reaches
// zero is destroyed by a later Sweep, also after a restart). Used when a message is read
// and its timer starts: Pending → Expiry.
func (k *Keyring) Reseal(tx *store.Tx, sealed, ad []byte, to Bucket) ([]byte, error) {
	from, err := BucketOf(sealed)
	if err != nil {
		return nil, err
	}
	pt, err := k.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	if from == to {
		return sealed, nil
	}
	if err := k.addRef(tx, to, 1); err != nil {
		return nil, err
	}
	if err := k.addRef(tx, from, -1); err != nil {
		return nil, err
	}
	return k.seal(to, ad, pt)
}

// Release uncounts content the caller deletes (in tx, with the delete). Content whose
// bucket is already destroyed releases nothing and is not an error.
func (k *Keyring) Release(tx *store.Tx, sealed []byte) error {
	b, err := BucketOf(sealed)
	if err != nil {
		return err
	}
	return k.addRef(tx, b, -1)
}

// addRef adjusts b's count in tx by delta (+1 or -1). +1 on a missing bucket is
// ErrNoBucket; -1 on one is nothing (destroyed already).
func (k *Keyring) addRef(tx *store.Tx, b Bucket, delta int) error {
	r, ok, err := getRecord(tx, b)
	if err != nil {
		return err
	}
	if !ok {
		if delta > 0 {
			return fmt.Errorf("%w: %s", ErrNoBucket, b)
		}
		return nil
	}
	if delta > 0 {
		r.refs++
	} else if r.refs > 0 {
		r.refs--
	}
	return tx.Set(recordKey(b), r.marshal())
}

// key returns b's key in memory: ErrKeyDamaged for a damaged one, ErrShredded for one
// that is gone.
func (k *Keyring) key(b Bucket) (*bucketKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	if bk, ok := k.keys[b]; ok {
		return bk, nil
	}
	if slot, ok := k.damaged[b]; ok {
		return nil, fmt.Errorf("%w: bucket %s, slot %d of %s", ErrKeyDamaged, b, slot, k.path)
	}
	return nil, fmt.Errorf("%w: bucket %s", ErrShredded, b)
}

// SealUntil seals plaintext in tx under the bucket for content that expires at expiresAt
// (Unix ms), or, when expiresAt is 0 (its timer has not started: received, unread), under
// the Pending bucket of now; the bucket is made in tx if need be. Content whose expiry has
// passed is ErrExpired: do not store it. Writing it again once its timer starts (Release
// the old, SealUntil the new) moves it from Pending to Expiry.
func (k *Keyring) SealUntil(tx *store.Tx, expiresAt int64, ad, plaintext []byte) ([]byte, error) {
	var b Bucket
	var err error
	if expiresAt == 0 {
		b, err = k.PendingBucketIn(tx, k.opts.Now())
	} else {
		b, err = k.ExpiryBucketIn(tx, time.UnixMilli(expiresAt))
	}
	if err != nil {
		return nil, err
	}
	return k.Seal(tx, b, ad, plaintext)
}
