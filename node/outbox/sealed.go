package outbox

import (
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Sealer seals the contents of disappearing messages at rest under the key of their
// expiry's bucket (node/shredkeys; *shredkeys.Keyring is one): once that key is destroyed,
// no copy of an outbox entry or of the resend history that Badger still holds can be
// opened (docs/PROTOCOL.md, "Disappearing messages at rest").
type Sealer interface {
	SealUntil(tx *store.Tx, expiresAt int64, ad, plaintext []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// ErrGone: the outbox entry is a disappearing content past its expiry, whose key is
// destroyed: drop it.
var ErrGone = errors.New("outbox: the disappearing content expired")

// sealContent seals e's content (plaintext) when it expires and s is set. The outbox entry
// and the resend history hold the same sealed bytes, bound to SentKey(cid, e.Seq).
func sealContent(tx *store.Tx, s Sealer, cid string, e *Entry) error {
	if s == nil || e.Expires <= 0 || e.Sealed {
		return nil
	}
	sealed, err := s.SealUntil(tx, e.Expires, SentKey(cid, e.Seq), e.Content)
	if err != nil {
		return fmt.Errorf("outbox: seal content %d: %w", e.Seq, err)
	}
	e.Content, e.Sealed = sealed, true
	return nil
}

// openSent returns the plaintext of raw, the resend history's copy of content seq of
// contact cid, and whether it was sealed; ErrGone once its key is destroyed.
func openSent(s Sealer, cid string, seq uint64, raw []byte) (plain []byte, sealed bool, err error) {
	if _, err := shredkeys.BucketOf(raw); err != nil {
		return raw, false, nil // wire.Content JSON (which never starts with 0x01)
	}
	if s == nil {
		return nil, true, fmt.Errorf("outbox: content %d is sealed at rest and no sealer is set", seq)
	}
	plain, err = s.Open(raw, SentKey(cid, seq))
	if errors.Is(err, shredkeys.ErrShredded) {
		return nil, true, ErrGone
	}
	return plain, true, err
}

// Plain returns e's content as wire.Content JSON, opened with s if it is sealed at rest.
// A content whose key is destroyed (it expired) is ErrGone.
func Plain(s Sealer, cid string, e *Entry) ([]byte, error) {
	if !e.Sealed {
		return e.Content, nil
	}
	plain, _, err := openSent(s, cid, e.Seq, e.Content)
	return plain, err
}

// SealFrom is Seal for any entry: its content is opened with s first when it is sealed at
// rest (ErrGone once it expired: drop the entry).
func SealFrom(s0 *ratchet.State, e *Entry, s Sealer, cid string, env, initial []byte) error {
	plain, err := Plain(s, cid, e)
	if err != nil {
		return err
	}
	return encrypt(s0, e, plain, env, initial)
}

// cipherAD binds a sealed ciphertext to its content (and apart from the content itself).
func cipherAD(cid string, seq uint64) []byte { return append(SentKey(cid, seq), "/cipher"...) }

// SealCipher seals e's ratchet ciphertext, in tx, under the bucket of its content when the
// content is sealed at rest (Entry.CipherSealed): the caller stores e, and opens it again
// to send it (the Queue does). Older versions of the session record stay in Badger's value
// log until compaction; once the bucket key is destroyed they can open nothing.
func SealCipher(tx *store.Tx, s Sealer, cid string, e *Entry) error {
	if s == nil || !e.Sealed || e.CipherSealed || e.Cipher == nil {
		return nil
	}
	sealed, err := s.SealUntil(tx, e.Expires, cipherAD(cid, e.Seq), e.Cipher)
	if err != nil {
		return fmt.Errorf("outbox: seal ciphertext %d: %w", e.Seq, err)
	}
	e.Cipher, e.CipherSealed = sealed, true
	return nil
}

// openCipher opens e's sealed ciphertext in place (ErrGone once its key is destroyed).
func openCipher(s Sealer, cid string, e *Entry) error {
	if !e.CipherSealed {
		return nil
	}
	if s == nil {
		return fmt.Errorf("outbox: the ciphertext of %d is sealed at rest and no sealer is set", e.Seq)
	}
	ct, err := s.Open(e.Cipher, cipherAD(cid, e.Seq))
	if errors.Is(err, shredkeys.ErrShredded) {
		return ErrGone
	}
	if err != nil {
		return fmt.Errorf("outbox: open ciphertext %d: %w", e.Seq, err)
	}
	e.Cipher, e.CipherSealed = ct, false
	return nil
}

// SealCopy seals env, a copy of content ct kept at store key key (our group resend copy,
// gh/), under ct's bucket when ct disappears (ExpiryOf), marked by a leading 0x00 (a group
// envelope starts with its version, 0x01): an older version of the key that encrypted it,
// left in Badger's value log, must not open it once the bucket key is destroyed. Other
// contents are returned as they are.
func SealCopy(tx *store.Tx, s Sealer, key []byte, ct *wire.Content, env []byte) ([]byte, error) {
	exp := ExpiryOf(ct)
	if s == nil || exp <= 0 {
		return env, nil
	}
	sealed, err := s.SealUntil(tx, exp, key, env)
	if err != nil {
		return nil, fmt.Errorf("outbox: seal a copy of %s: %w", ct.Kind, err)
	}
	return append([]byte{0}, sealed...), nil
}

// OpenCopy returns the copy SealCopy kept as v at key; false once its key is destroyed
// (the content expired).
func OpenCopy(s Sealer, key, v []byte) ([]byte, bool) {
	if len(v) == 0 || v[0] != 0 {
		return v, true
	}
	if s == nil {
		return nil, false
	}
	env, err := s.Open(v[1:], key)
	return env, err == nil
}
