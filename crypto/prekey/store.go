package prekey

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// Store holds a device's private prekeys. The zero value is not usable; use
// NewStore or UnmarshalStore. A Store is not safe for concurrent use.
type Store struct {
	owner  *identity.PublicIdentity
	nextID uint32
	// spks and lastResort are ordered oldest first; the last entry is
	// current (retired == 0), earlier ones were retired at the given time.
	spks       []spkPrivate
	lastResort []pqPrivate
	// one-time keys, ordered by id.
	opks  []opkPrivate
	pqOne []pqPrivate
}

type spkPrivate struct {
	pub     SignedPrekey
	priv    *ecdh.PrivateKey
	retired int64 // Unix seconds; 0 while current
}

type opkPrivate struct {
	pub  OneTimePrekey
	priv *ecdh.PrivateKey
}

type pqPrivate struct {
	pub     PQPrekey
	dk      *mlkem.DecapsulationKey768
	retired int64
}

// NewStore creates a store with a signed prekey, a last-resort PQ prekey and
// PoolSize one-time prekeys of each kind, all signed by id.
func NewStore(id *identity.Identity, now time.Time) (*Store, error) {
	return newStore(id, now, PoolSize)
}

func newStore(id *identity.Identity, now time.Time, pool int) (*Store, error) {
	s := &Store{owner: id.Public(), nextID: 1}
	if err := s.Rotate(id, now); err != nil {
		return nil, err
	}
	if _, _, err := s.refill(id, now, pool); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) allocID() (uint32, error) {
	if s.nextID == 0 {
		return 0, fmt.Errorf("prekey: id space exhausted")
	}
	id := s.nextID
	s.nextID++
	return id, nil
}

func (s *Store) checkOwner(id *identity.Identity) error {
	if !s.owner.Equal(id.Public()) {
		return fmt.Errorf("prekey: store belongs to another identity")
	}
	return nil
}

// Identity returns the public identity that signed this store's prekeys.
func (s *Store) Identity() *identity.PublicIdentity { return s.owner }

// NeedsRotation reports whether the current signed prekey is older than
// RotationInterval.
func (s *Store) NeedsRotation(now time.Time) bool {
	cur := s.spks[len(s.spks)-1]
	return now.Sub(cur.pub.Created()) >= RotationInterval
}

// Rotate replaces the signed prekey and the last-resort PQ prekey. The
// previous ones keep answering handshakes for GracePeriod; keys past their
// grace are deleted.
func (s *Store) Rotate(id *identity.Identity, now time.Time) error {
	if err := s.checkOwner(id); err != nil {
		return err
	}
	spk, err := newSignedPrekey(s, id, now)
	if err != nil {
		return err
	}
	lr, err := newPQPrekey(s, id, LastResort, now)
	if err != nil {
		return err
	}
	t := now.Unix()
	if n := len(s.spks); n > 0 {
		s.spks[n-1].retired = t
	}
	if n := len(s.lastResort); n > 0 {
		s.lastResort[n-1].retired = t
	}
	s.spks = append(s.spks, spk)
	s.lastResort = append(s.lastResort, lr)
	s.prune(now)
	return nil
}

// prune deletes retired keys past their grace period.
func (s *Store) prune(now time.Time) {
	cutoff := now.Add(-GracePeriod).Unix()
	s.spks = slices.DeleteFunc(s.spks, func(k spkPrivate) bool { return k.retired != 0 && k.retired < cutoff })
	s.lastResort = slices.DeleteFunc(s.lastResort, func(k pqPrivate) bool { return k.retired != 0 && k.retired < cutoff })
}

// Refill tops both one-time pools up to PoolSize when either has fallen below
// RefillBelow, and returns the new public keys to upload.
func (s *Store) Refill(id *identity.Identity, now time.Time) ([]OneTimePrekey, []PQPrekey, error) {
	if err := s.checkOwner(id); err != nil {
		return nil, nil, err
	}
	if len(s.opks) >= RefillBelow && len(s.pqOne) >= RefillBelow {
		return nil, nil, nil
	}
	return s.refill(id, now, PoolSize)
}

// Grow adds nOPK X25519 and nPQ ML-KEM one-time prekeys, beyond PoolSize if need be (a
// node keeps keys it has handed out until a handshake uses them, and still needs unused
// ones), and returns their public keys. Neither pool may grow past MaxPool.
func (s *Store) Grow(id *identity.Identity, now time.Time, nOPK, nPQ int) ([]OneTimePrekey, []PQPrekey, error) {
	if nOPK < 0 || nPQ < 0 || len(s.opks)+nOPK > MaxPool || len(s.pqOne)+nPQ > MaxPool {
		return nil, nil, fmt.Errorf("prekey: growing the one-time pools to %d and %d keys: more than %d",
			len(s.opks)+nOPK, len(s.pqOne)+nPQ, MaxPool)
	}
	return s.fill(id, now, len(s.opks)+nOPK, len(s.pqOne)+nPQ)
}

func (s *Store) refill(id *identity.Identity, now time.Time, pool int) ([]OneTimePrekey, []PQPrekey, error) {
	return s.fill(id, now, pool, pool)
}

// fill adds one-time keys until the pools hold wantOPK and wantPQ keys.
func (s *Store) fill(id *identity.Identity, now time.Time, wantOPK, wantPQ int) ([]OneTimePrekey, []PQPrekey, error) {
	if err := s.checkOwner(id); err != nil {
		return nil, nil, err
	}
	var newOPK []OneTimePrekey
	var newPQ []PQPrekey
	for len(s.opks) < wantOPK {
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("prekey: %w", err)
		}
		kid, err := s.allocID()
		if err != nil {
			return nil, nil, err
		}
		k := opkPrivate{priv: priv, pub: OneTimePrekey{id: kid}}
		copy(k.pub.pub[:], priv.PublicKey().Bytes())
		s.opks = append(s.opks, k)
		newOPK = append(newOPK, k.pub)
	}
	for len(s.pqOne) < wantPQ {
		k, err := newPQPrekey(s, id, OneTime, now)
		if err != nil {
			return nil, nil, err
		}
		s.pqOne = append(s.pqOne, k)
		newPQ = append(newPQ, k.pub)
	}
	return newOPK, newPQ, nil
}

func newSignedPrekey(s *Store, id *identity.Identity, now time.Time) (spkPrivate, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return spkPrivate{}, fmt.Errorf("prekey: %w", err)
	}
	kid, err := s.allocID()
	if err != nil {
		return spkPrivate{}, err
	}
	k := spkPrivate{priv: priv, pub: SignedPrekey{id: kid, created: now.Unix()}}
	copy(k.pub.pub[:], priv.PublicKey().Bytes())
	copy(k.pub.sig[:], id.Sign(identity.DomainSignedPrekey, k.pub.signed(nil)))
	return k, nil
}

func newPQPrekey(s *Store, id *identity.Identity, kind Kind, now time.Time) (pqPrivate, error) {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return pqPrivate{}, fmt.Errorf("prekey: %w", err)
	}
	kid, err := s.allocID()
	if err != nil {
		return pqPrivate{}, err
	}
	return signPQ(id, dk, kind, kid, now.Unix()), nil
}

func signPQ(id *identity.Identity, dk *mlkem.DecapsulationKey768, kind Kind, kid uint32, created int64) pqPrivate {
	k := pqPrivate{dk: dk, pub: PQPrekey{kem: KEMMLKEM768, kind: kind, id: kid, created: created,
		pub: dk.EncapsulationKey().Bytes(), ek: dk.EncapsulationKey()}}
	copy(k.pub.sig[:], id.Sign(identity.DomainPQPrekey, k.pub.signed(nil)))
	return k
}

// SignedPrekey returns the current signed prekey.
func (s *Store) SignedPrekey() SignedPrekey { return s.spks[len(s.spks)-1].pub }

// LastResortPrekey returns the current last-resort PQ prekey.
func (s *Store) LastResortPrekey() PQPrekey { return s.lastResort[len(s.lastResort)-1].pub }

// OneTimePrekeys returns the unused X25519 one-time prekeys, by id.
func (s *Store) OneTimePrekeys() []OneTimePrekey {
	out := make([]OneTimePrekey, len(s.opks))
	for i, k := range s.opks {
		out[i] = k.pub
	}
	return out
}

// PQOneTimePrekeys returns the unused one-time PQ prekeys, by id.
func (s *Store) PQOneTimePrekeys() []PQPrekey {
	out := make([]PQPrekey, len(s.pqOne))
	for i, k := range s.pqOne {
		out[i] = k.pub
	}
	return out
}

// Bundle returns a bundle with the current signed prekey, the first unused
// one-time keys (or the last-resort PQ key and no X25519 one-time key when the
// pools are empty). It consumes nothing: handing the same bundle to two
// initiators makes the second handshake fail once the first consumes its keys.
func (s *Store) Bundle() *Bundle {
	b := &Bundle{identity: s.owner, spk: s.SignedPrekey(), pq: s.LastResortPrekey()}
	if len(s.pqOne) > 0 {
		b.pq = s.pqOne[0].pub
	}
	if len(s.opks) > 0 {
		o := s.opks[0].pub
		b.opk = &o
	}
	return b
}

// SignedPrekeyPair returns the private signed prekey with the given id, if it
// is current or retired less than GracePeriod before now. The responder's
// Double Ratchet starts from this key pair.
func (s *Store) SignedPrekeyPair(id uint32, now time.Time) (*ecdh.PrivateKey, error) {
	for _, k := range s.spks {
		if k.pub.id != id {
			continue
		}
		if k.retired != 0 && now.Unix() >= k.retired+int64(GracePeriod/time.Second) {
			return nil, fmt.Errorf("signed prekey %d: %w", id, ErrExpiredPrekey)
		}
		return k.priv, nil
	}
	return nil, fmt.Errorf("signed prekey %d: %w", id, ErrUnknownPrekey)
}

// OneTimePrekeyDH returns X25519(one-time prekey id, remote) without consuming
// the key.
func (s *Store) OneTimePrekeyDH(id uint32, remote *ecdh.PublicKey) ([]byte, error) {
	i, ok := slices.BinarySearchFunc(s.opks, id, func(k opkPrivate, id uint32) int { return cmpU32(k.pub.id, id) })
	if !ok {
		return nil, fmt.Errorf("one-time prekey %d: %w", id, ErrUnknownPrekey)
	}
	return kdf.DH(s.opks[i].priv, remote)
}

// Decapsulate decapsulates ct with the PQ prekey id (one-time, or a
// last-resort key within its grace) without consuming it, and reports the
// key's kind.
func (s *Store) Decapsulate(id uint32, now time.Time, ct []byte) (ss []byte, kind Kind, err error) {
	var k *pqPrivate
	if i, ok := slices.BinarySearchFunc(s.pqOne, id, func(k pqPrivate, id uint32) int { return cmpU32(k.pub.id, id) }); ok {
		k = &s.pqOne[i]
	}
	for i := range s.lastResort {
		if s.lastResort[i].pub.id == id {
			k = &s.lastResort[i]
			if k.retired != 0 && now.Unix() >= k.retired+int64(GracePeriod/time.Second) {
				return nil, 0, fmt.Errorf("last-resort PQ prekey %d: %w", id, ErrExpiredPrekey)
			}
		}
	}
	if k == nil {
		return nil, 0, fmt.Errorf("PQ prekey %d: %w", id, ErrUnknownPrekey)
	}
	ss, err = k.dk.Decapsulate(ct)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: ML-KEM ciphertext: %w", ErrMalformed, err)
	}
	return ss, k.pub.kind, nil
}

// Consume deletes the one-time prekeys (of either kind) with the given ids.
// Ids of signed or last-resort keys are ignored: those are never consumed.
// It fails with ErrUnknownPrekey, changing nothing, if a one-time id is not
// held (already consumed or never issued) and is not a signed/last-resort id.
func (s *Store) Consume(ids []uint32) error {
	for _, id := range ids {
		if !s.holds(id) {
			return fmt.Errorf("consume %d: %w", id, ErrUnknownPrekey)
		}
	}
	for _, id := range ids {
		s.opks = slices.DeleteFunc(s.opks, func(k opkPrivate) bool { return k.pub.id == id })
		s.pqOne = slices.DeleteFunc(s.pqOne, func(k pqPrivate) bool { return k.pub.id == id })
	}
	return nil
}

func (s *Store) holds(id uint32) bool {
	return slices.ContainsFunc(s.opks, func(k opkPrivate) bool { return k.pub.id == id }) ||
		slices.ContainsFunc(s.pqOne, func(k pqPrivate) bool { return k.pub.id == id }) ||
		slices.ContainsFunc(s.spks, func(k spkPrivate) bool { return k.pub.id == id }) ||
		slices.ContainsFunc(s.lastResort, func(k pqPrivate) bool { return k.pub.id == id })
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
