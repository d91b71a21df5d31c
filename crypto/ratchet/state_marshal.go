package ratchet

import (
	"crypto/ecdh"
	"encoding/binary"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// StateVersion is the version byte of a serialized State.
const StateVersion = 0x01

// state flags
const (
	flagInitiator = 1 << iota
	flagDHr
	flagCKs
	flagCKr
	flagsKnown = flagInitiator | flagDHr | flagCKs | flagCKr
)

const (
	stateFixedSize = 1 + 1 + 1 + 2*identity.KeySize + 2*kdf.X25519Size + 3*kdf.KeySize + 3*4 + 1 + 2
	skippedSize    = kdf.X25519Size + 4 + kdf.KeySize
)

// Marshal serializes the state, secrets included, for the node's encrypted
// store. Equal states marshal to equal bytes. Layout (integers big-endian):
//
//	ver (1) = 0x01 ‖ suite (1) ‖ flags (1: initiator, DHr, CKs, CKr set)
//	‖ initiator key (64) ‖ responder key (64)
//	‖ DHs private (32) ‖ DHr (32) ‖ RK (32) ‖ CKs (32) ‖ CKr (32)
//	‖ Ns (4) ‖ Nr (4) ‖ PN (4)
//	‖ n (1) ‖ n × previous receiving-chain key (32), oldest first
//	‖ m (2) ‖ m × (ratchet key (32) ‖ N (4) ‖ message key (32)), oldest first
//
// Absent values (flags clear) are written as zeros.
func (s *State) Marshal() []byte {
	live := 0
	for _, id := range s.order {
		if _, ok := s.skipped[id]; ok {
			live++
		}
	}
	b := make([]byte, 0, stateFixedSize+len(s.prev)*kdf.X25519Size+live*skippedSize)
	var flags byte
	if s.initiator {
		flags |= flagInitiator
	}
	if s.c.hasDHr {
		flags |= flagDHr
	}
	if s.c.hasCKs {
		flags |= flagCKs
	}
	if s.c.hasCKr {
		flags |= flagCKr
	}
	b = append(b, StateVersion, s.params.Suite, flags)
	b = append(b, s.params.InitiatorKey[:]...)
	b = append(b, s.params.ResponderKey[:]...)
	b = append(b, s.c.dhs.Bytes()...)
	b = append(b, s.c.dhr[:]...)
	b = append(b, s.c.rk[:]...)
	b = append(b, s.c.cks[:]...)
	b = append(b, s.c.ckr[:]...)
	b = binary.BigEndian.AppendUint32(b, s.c.ns)
	b = binary.BigEndian.AppendUint32(b, s.c.nr)
	b = binary.BigEndian.AppendUint32(b, s.c.pn)
	b = append(b, byte(len(s.prev)))
	for _, p := range s.prev {
		b = append(b, p[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(live))
	for _, id := range s.order {
		mk, ok := s.skipped[id]
		if !ok {
			continue
		}
		b = append(b, id.dh[:]...)
		b = binary.BigEndian.AppendUint32(b, id.n)
		b = append(b, mk[:]...)
	}
	return b
}

// Unmarshal parses a state written by Marshal. It refuses any encoding that
// Marshal would not produce, including states over the caps.
func Unmarshal(b []byte) (*State, error) {
	bad := func(what string) (*State, error) {
		return nil, fmt.Errorf("%w: state: %s", ErrMalformed, what)
	}
	if len(b) < stateFixedSize {
		return bad("truncated")
	}
	if b[0] != StateVersion {
		return bad("version")
	}
	var p Params
	p.Suite = b[1]
	flags := b[2]
	if flags&^flagsKnown != 0 {
		return bad("flags")
	}
	r := b[3:]
	take := func(n int) []byte { out := r[:n]; r = r[n:]; return out }
	copy(p.InitiatorKey[:], take(identity.KeySize))
	copy(p.ResponderKey[:], take(identity.KeySize))
	s := newState(p, flags&flagInitiator != 0)
	dhs, err := ecdh.X25519().NewPrivateKey(take(kdf.X25519Size))
	if err != nil {
		return bad("DHs")
	}
	s.c.dhs = dhs
	copy(s.c.dhsPub[:], dhs.PublicKey().Bytes())
	copy(s.c.dhr[:], take(kdf.X25519Size))
	copy(s.c.rk[:], take(kdf.KeySize))
	copy(s.c.cks[:], take(kdf.KeySize))
	copy(s.c.ckr[:], take(kdf.KeySize))
	s.c.ns = binary.BigEndian.Uint32(take(4))
	s.c.nr = binary.BigEndian.Uint32(take(4))
	s.c.pn = binary.BigEndian.Uint32(take(4))
	s.c.hasDHr = flags&flagDHr != 0
	s.c.hasCKs = flags&flagCKs != 0
	s.c.hasCKr = flags&flagCKr != 0
	var zero [kdf.KeySize]byte
	switch {
	case s.c.hasDHr && kdf.CheckX25519(s.c.dhr[:]) != nil:
		return bad("DHr")
	case !s.c.hasDHr && s.c.dhr != zero:
		return bad("DHr set without flag")
	case !s.c.hasCKs && (s.c.cks != zero || s.c.ns != 0 || s.c.pn != 0):
		return bad("CKs set without flag")
	case !s.c.hasCKr && (s.c.ckr != zero || s.c.nr != 0):
		return bad("CKr set without flag")
	case s.c.hasCKr && !s.c.hasDHr:
		return bad("CKr without DHr")
	}
	nprev := int(take(1)[0])
	if nprev > MaxReceiverChains-1 || len(r) < nprev*kdf.X25519Size+2 {
		return bad("previous chains")
	}
	for range nprev {
		var k [kdf.X25519Size]byte
		copy(k[:], take(kdf.X25519Size))
		if kdf.CheckX25519(k[:]) != nil {
			return bad("previous chain key")
		}
		s.prev = append(s.prev, k)
	}
	nskip := int(binary.BigEndian.Uint16(take(2)))
	if nskip > MaxSkippedKeys || len(r) != nskip*skippedSize {
		return bad("skipped keys")
	}
	for range nskip {
		var id skipID
		var mk [kdf.KeySize]byte
		copy(id.dh[:], take(kdf.X25519Size))
		id.n = binary.BigEndian.Uint32(take(4))
		copy(mk[:], take(kdf.KeySize))
		if _, dup := s.skipped[id]; dup {
			return bad("duplicate skipped key")
		}
		if !s.knownChain(id.dh) {
			return bad("skipped key of an unknown chain")
		}
		s.skipped[id] = mk
		s.order = append(s.order, id)
	}
	return s, nil
}

func (s *State) knownChain(dh [kdf.X25519Size]byte) bool {
	if s.c.hasCKr && dh == s.c.dhr {
		return true
	}
	for _, p := range s.prev {
		if p == dh {
			return true
		}
	}
	return false
}
