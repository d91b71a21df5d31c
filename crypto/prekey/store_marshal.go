package prekey

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"encoding/binary"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// StoreVersion is the version byte of the serialized Store.
//
// Serialized Store (secret; integers big-endian, times Unix seconds):
//
//	ver (1) = 0x01
//	owner public identity (129)
//	next id (4)
//	n (1), then n signed prekeys, oldest first, the last current:
//	    SignedPrekey wire form (108) ‖ X25519 private (32) ‖ retired (8, 0 = current)
//	n (1), then n last-resort PQ prekeys, oldest first, the last current:
//	    pqEntry ‖ retired (8)
//	n (2), then n X25519 one-time prekeys, ascending id:
//	    id (4) ‖ X25519 private (32)
//	n (2), then n one-time PQ prekeys, ascending id:
//	    pqEntry
//	pqEntry = kem (1) ‖ id (4) ‖ created (8) ‖ ML-KEM seed d‖z (64) ‖ signature (64)
//
// Public keys are recomputed from the private keys when unmarshalling.
const StoreVersion = 0x01

// MaxPool bounds each one-time pool a store holds (and a stored store may claim to hold).
const MaxPool = 1 << 12

// Marshal serializes the store, private keys included. The result is secret.
func (s *Store) Marshal() []byte {
	b := []byte{StoreVersion}
	b = append(b, s.owner.Bytes()...)
	b = binary.BigEndian.AppendUint32(b, s.nextID)
	b = append(b, byte(len(s.spks)))
	for _, k := range s.spks {
		b = append(b, k.pub.Bytes()...)
		b = append(b, k.priv.Bytes()...)
		b = binary.BigEndian.AppendUint64(b, uint64(k.retired))
	}
	b = append(b, byte(len(s.lastResort)))
	for _, k := range s.lastResort {
		b = appendPQEntry(b, k)
		b = binary.BigEndian.AppendUint64(b, uint64(k.retired))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.opks)))
	for _, k := range s.opks {
		b = binary.BigEndian.AppendUint32(b, k.pub.id)
		b = append(b, k.priv.Bytes()...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.pqOne)))
	for _, k := range s.pqOne {
		b = appendPQEntry(b, k)
	}
	return b
}

func appendPQEntry(b []byte, k pqPrivate) []byte {
	b = append(b, k.pub.kem)
	b = binary.BigEndian.AppendUint32(b, k.pub.id)
	b = binary.BigEndian.AppendUint64(b, uint64(k.pub.created))
	b = append(b, k.dk.Bytes()...)
	return append(b, k.pub.sig[:]...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = fmt.Errorf("%w: store truncated", ErrMalformed)
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int     { return int(r.take(1)[0]) }
func (r *reader) u16() int    { return int(binary.BigEndian.Uint16(r.take(2))) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) i64() int64  { return int64(binary.BigEndian.Uint64(r.take(8))) }
func (r *reader) fail(f string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: store: "+f, append([]any{ErrMalformed}, a...)...)
	}
}

// UnmarshalStore parses a store written by Marshal.
func UnmarshalStore(b []byte) (*Store, error) {
	r := &reader{b: b}
	if r.u8() != StoreVersion {
		return nil, fmt.Errorf("%w: store version", ErrMalformed)
	}
	owner, err := identity.ParsePublic(r.take(identity.PublicSize))
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		return nil, fmt.Errorf("store owner: %w", err)
	}
	s := &Store{owner: owner, nextID: r.u32()}
	seen := map[uint32]bool{}
	checkID := func(id uint32) {
		if id == 0 || (s.nextID != 0 && id >= s.nextID) || seen[id] {
			r.fail("prekey id %d", id)
		}
		seen[id] = true
	}
	n := r.u8()
	for i := 0; i < n && r.err == nil; i++ {
		spk, err := ParseSignedPrekey(r.take(SignedPrekeySize))
		if err != nil {
			r.fail("signed prekey: %v", err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(r.take(kdf.X25519Size))
		if err != nil || r.err == nil && string(priv.PublicKey().Bytes()) != string(spk.pub[:]) {
			r.fail("signed prekey %d private key", spk.id)
		}
		checkID(spk.id)
		s.spks = append(s.spks, spkPrivate{pub: spk, priv: priv, retired: r.i64()})
	}
	n = r.u8()
	for i := 0; i < n && r.err == nil; i++ {
		k := r.pqEntry(LastResort)
		k.retired = r.i64()
		checkID(k.pub.id)
		s.lastResort = append(s.lastResort, k)
	}
	n = r.u16()
	if n > MaxPool {
		r.fail("%d one-time prekeys", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		id := r.u32()
		priv, err := ecdh.X25519().NewPrivateKey(r.take(kdf.X25519Size))
		if err != nil {
			r.fail("one-time prekey %d", id)
			break
		}
		checkID(id)
		if i > 0 && id <= s.opks[i-1].pub.id {
			r.fail("one-time prekeys out of order")
		}
		k := opkPrivate{priv: priv, pub: OneTimePrekey{id: id}}
		copy(k.pub.pub[:], priv.PublicKey().Bytes())
		s.opks = append(s.opks, k)
	}
	n = r.u16()
	if n > MaxPool {
		r.fail("%d one-time PQ prekeys", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		k := r.pqEntry(OneTime)
		checkID(k.pub.id)
		if i > 0 && k.pub.id <= s.pqOne[i-1].pub.id {
			r.fail("one-time PQ prekeys out of order")
		}
		s.pqOne = append(s.pqOne, k)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: store has %d trailing bytes", ErrMalformed, len(r.b))
	}
	if err := checkRetired(len(s.spks), func(i int) int64 { return s.spks[i].retired }); err != nil {
		return nil, err
	}
	if err := checkRetired(len(s.lastResort), func(i int) int64 { return s.lastResort[i].retired }); err != nil {
		return nil, err
	}
	return s, nil
}

// checkRetired enforces: at least one key, only the last one current.
func checkRetired(n int, retired func(int) int64) error {
	if n == 0 || retired(n-1) != 0 {
		return fmt.Errorf("%w: store has no current key", ErrMalformed)
	}
	for i := range n - 1 {
		if retired(i) <= 0 {
			return fmt.Errorf("%w: store has two current keys", ErrMalformed)
		}
	}
	return nil
}

func (r *reader) pqEntry(kind Kind) pqPrivate {
	kem := r.u8()
	id := r.u32()
	created := r.i64()
	seed := r.take(mlkem.SeedSize)
	sig := r.take(ed25519.SignatureSize)
	if r.err != nil {
		return pqPrivate{}
	}
	if kem != KEMMLKEM768 || created < 0 {
		r.fail("PQ prekey %d kem %d", id, kem)
		return pqPrivate{}
	}
	dk, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		r.fail("PQ prekey %d seed", id)
		return pqPrivate{}
	}
	k := pqPrivate{dk: dk, pub: PQPrekey{kem: KEMMLKEM768, kind: kind, id: id, created: created,
		pub: dk.EncapsulationKey().Bytes(), ek: dk.EncapsulationKey()}}
	copy(k.pub.sig[:], sig)
	return k
}
