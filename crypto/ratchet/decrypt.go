package ratchet

import (
	"crypto/ecdh"
	"fmt"
	"slices"

	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// Decrypt is RatchetDecrypt: it authenticates and decrypts message (header ‖
// ciphertext) and returns the plaintext.
//
// Decrypt is failure-atomic: on any error the state is unchanged (its
// Marshal output is byte-identical). It works on a copy of the ratchet keys
// and a list of staged skipped keys, and commits them only after the AEAD
// has authenticated the message. The MAX_SKIP checks run before any KDF work,
// so a hostile header costs at most MaxSkip chain steps per chain.
func (s *State) Decrypt(message []byte) ([]byte, error) {
	h, hlen, err := parseHeader(message)
	if err != nil {
		return nil, err
	}
	hdr, ct := message[:hlen], message[hlen:]
	if len(ct) < Overhead {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", ErrMalformed, len(ct))
	}

	// plaintext = TrySkippedMessageKeys(state, header, ciphertext, AD)
	if pt, ok, err := s.trySkippedMessageKeys(&h, hdr, ct); ok {
		return pt, err
	}

	c := s.c // work on a copy; commit below
	var staged []skippedKey
	defer func() { // staged keys not committed are wiped
		for i := range staged {
			clear(staged[i].mk[:])
		}
	}()
	step := !(c.hasDHr && h.dh == c.dhr)
	if step {
		if slices.Contains(s.prev, h.dh) {
			return nil, ErrReplay // a chain whose remaining keys are all used or gone
		}
		// MAX_SKIP for both chains, before any work.
		if c.hasCKr && h.pn > c.nr && h.pn-c.nr > MaxSkip {
			return nil, fmt.Errorf("%w: PN %d after %d", ErrTooManySkipped, h.pn, c.nr)
		}
		if h.n > MaxSkip {
			return nil, fmt.Errorf("%w: N %d in a new chain", ErrTooManySkipped, h.n)
		}
		pub, err := kdf.ParseX25519(h.dh[:])
		if err != nil {
			return nil, fmt.Errorf("ratchet: header: %w", err)
		}
		// SkipMessageKeys(state, header.pn); DHRatchet(state, header)
		staged = skipMessageKeys(&c, h.pn, staged)
		if err := s.dhRatchet(&c, pub); err != nil {
			return nil, err
		}
	} else {
		if !c.hasCKr {
			return nil, ErrDecrypt // their initial key has no receiving chain
		}
		if h.n < c.nr {
			return nil, ErrReplay
		}
		if h.n-c.nr > MaxSkip {
			return nil, fmt.Errorf("%w: N %d after %d", ErrTooManySkipped, h.n, c.nr)
		}
	}
	// SkipMessageKeys(state, header.n)
	staged = skipMessageKeys(&c, h.n, staged)
	// state.CKr, mk = KDF_CK(state.CKr); state.Nr += 1
	ckr, mk := kdf.KDFCK(&c.ckr)
	c.ckr = ckr
	clear(ckr[:])
	c.nr++
	pt, err := s.open(&mk, hdr, ct)
	if err != nil {
		return nil, err
	}
	s.commit(&c, step, staged)
	return pt, nil
}

// trySkippedMessageKeys is TrySkippedMessageKeys: if the message's key was
// stored, decrypt with it and, on success only, delete it. ok reports whether
// a stored key was found (whatever the outcome).
func (s *State) trySkippedMessageKeys(h *header, hdr, ct []byte) (pt []byte, ok bool, err error) {
	id := skipID{dh: h.dh, n: h.n}
	mk, ok := s.skipped[id]
	if !ok {
		return nil, false, nil
	}
	pt, err = s.open(&mk, hdr, ct)
	if err != nil {
		return nil, true, err
	}
	s.skipped[id] = [kdf.KeySize]byte{}
	delete(s.skipped, id)
	return pt, true, nil
}

// skipMessageKeys is SkipMessageKeys: it advances c's receiving chain to
// until, appending the skipped keys to staged. The caller has already
// checked until - c.nr ≤ MaxSkip.
func skipMessageKeys(c *core, until uint32, staged []skippedKey) []skippedKey {
	if !c.hasCKr {
		return staged
	}
	for c.nr < until {
		// state.CKr, mk = KDF_CK(state.CKr)
		ckr, mk := kdf.KDFCK(&c.ckr)
		// state.MKSKIPPED[state.DHr, state.Nr] = mk
		staged = append(staged, skippedKey{id: skipID{dh: c.dhr, n: c.nr}, mk: mk})
		c.ckr = ckr
		c.nr++
	}
	return staged
}

// dhRatchet is DHRatchet: it starts a new receiving chain for their new key
// and a new sending chain with a fresh key of ours.
func (s *State) dhRatchet(c *core, theirs *ecdh.PublicKey) error {
	// state.PN = state.Ns; state.Ns = 0; state.Nr = 0; state.DHr = header.dh
	c.pn, c.ns, c.nr = c.ns, 0, 0
	copy(c.dhr[:], theirs.Bytes())
	c.hasDHr = true
	// state.RK, state.CKr = KDF_RK(state.RK, DH(state.DHs, state.DHr))
	dh, err := kdf.DH(c.dhs, theirs)
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	c.rk, c.ckr, err = kdf.KDFRK(&c.rk, dh)
	clear(dh)
	if err != nil {
		return err
	}
	c.hasCKr = true
	// state.DHs = GENERATE_DH()
	if c.dhs, err = s.generateDH(); err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	copy(c.dhsPub[:], c.dhs.PublicKey().Bytes())
	// state.RK, state.CKs = KDF_RK(state.RK, DH(state.DHs, state.DHr))
	if dh, err = kdf.DH(c.dhs, theirs); err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	c.rk, c.cks, err = kdf.KDFRK(&c.rk, dh)
	clear(dh)
	if err != nil {
		return err
	}
	c.hasCKs = true
	return nil
}

// commit installs the working copy c and the staged skipped keys, then
// enforces MaxReceiverChains and MaxSkippedKeys by evicting the oldest.
func (s *State) commit(c *core, step bool, staged []skippedKey) {
	if step && s.c.hasCKr {
		s.prev = append(s.prev, s.c.dhr)
	}
	s.c = *c
	clear(c.rk[:])
	clear(c.cks[:])
	clear(c.ckr[:])
	for _, k := range staged {
		s.skipped[k.id] = k.mk
		s.order = append(s.order, k.id)
	}
	for len(s.prev) > MaxReceiverChains-1 {
		old := s.prev[0]
		s.prev = s.prev[1:]
		for id := range s.skipped {
			if id.dh == old {
				s.skipped[id] = [kdf.KeySize]byte{}
				delete(s.skipped, id)
			}
		}
	}
	s.compactOrder()
	for len(s.skipped) > MaxSkippedKeys {
		id := s.order[0]
		s.order = s.order[1:]
		if _, ok := s.skipped[id]; ok {
			s.skipped[id] = [kdf.KeySize]byte{}
			delete(s.skipped, id)
		}
	}
}

// compactOrder drops stale entries from order once they dominate it.
func (s *State) compactOrder() {
	if len(s.order) <= 2*len(s.skipped)+64 {
		return
	}
	live := make([]skipID, 0, len(s.skipped))
	for _, id := range s.order {
		if _, ok := s.skipped[id]; ok {
			live = append(live, id)
		}
	}
	s.order = live
}
