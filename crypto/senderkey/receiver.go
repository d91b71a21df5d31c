package senderkey

import (
	"crypto/ed25519"
	"crypto/subtle"
	"fmt"
	"slices"
)

// A ReceiverState decrypts one sender's messages in one group. It holds at most
// MaxChains chains, newest first: after a rotation the previous chain is kept so that
// messages already in flight still decrypt, and the one before it is dropped. It is not
// safe for concurrent use.
//
// Every method is failure-atomic: when it returns an error the state is exactly as
// before (MarshalBinary returns the same bytes). The zero value holds no chain and
// decrypts nothing; create one with NewReceiver or UnmarshalReceiver.
type ReceiverState struct {
	chains []*receiverChain
}

// receiverChain is one sender chain as seen by a receiver.
type receiverChain struct {
	id        DistributionID
	sigPub    [pubKeySize]byte
	iteration uint32 // the iteration chainKey will produce next
	chainKey  [chainKeySize]byte
	skipped   []skippedKey // ascending iteration, all < iteration
}

// skippedKey is a message key kept for a message that has not arrived yet.
type skippedKey struct {
	iteration uint32
	mk        [messageKeySize]byte
}

// NewReceiver creates a receiver state holding the distribution's chain.
func NewReceiver(d *Distribution) *ReceiverState {
	return &ReceiverState{chains: []*receiverChain{chainFrom(d)}}
}

func chainFrom(d *Distribution) *receiverChain {
	return &receiverChain{id: d.id, sigPub: d.sigPub, iteration: d.iteration, chainKey: d.chainKey}
}

// Add installs the chain of a newer distribution from the same sender (after a
// rotation). The new chain becomes the newest; the oldest is dropped beyond MaxChains.
// A distribution for a chain already held is ignored if its signing key matches (a
// re-sent distribution must never roll a chain back and re-open used iterations) and
// refused with ErrChainConflict otherwise.
func (r *ReceiverState) Add(d *Distribution) error {
	if c := r.chain(d.id); c != nil {
		if subtle.ConstantTimeCompare(c.sigPub[:], d.sigPub[:]) != 1 {
			return fmt.Errorf("%w: %s", ErrChainConflict, d.id)
		}
		return nil
	}
	chains := append([]*receiverChain{chainFrom(d)}, r.chains...)
	for _, old := range chains[min(len(chains), MaxChains):] {
		old.wipe()
	}
	r.chains = chains[:min(len(chains), MaxChains)]
	return nil
}

// IDs returns the distribution ids held, newest first.
func (r *ReceiverState) IDs() []DistributionID {
	ids := make([]DistributionID, len(r.chains))
	for i, c := range r.chains {
		ids[i] = c.id
	}
	return ids
}

func (r *ReceiverState) chain(id DistributionID) *receiverChain {
	for _, c := range r.chains {
		if c.id == id {
			return c
		}
	}
	return nil
}

// Decrypt verifies and decrypts a group message, in this order:
//
//  1. parse the layout;
//  2. find the chain by distribution id (ErrUnknownChain);
//  3. verify the Ed25519 signature before anything else touches the message (ErrBadSignature);
//  4. an iteration below the chain's: trySkippedMessageKeys, or ErrDuplicate;
//  5. an iteration more than MaxSkip ahead: ErrTooFarAhead, before any KDF work;
//  6. otherwise ratchet the chain forward on a copy, storing skipped keys, and open.
//
// The state changes only when the plaintext is returned.
func (r *ReceiverState) Decrypt(message []byte) ([]byte, error) {
	m, err := ParseMessage(message)
	if err != nil {
		return nil, err
	}
	c := r.chain(m.id)
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownChain, m.id)
	}
	if !verify(&c.sigPub, m) {
		return nil, ErrBadSignature
	}
	if m.iteration < c.iteration {
		return c.trySkippedMessageKeys(m)
	}
	if m.iteration-c.iteration > MaxSkip {
		return nil, fmt.Errorf("%w: iteration %d, expected %d", ErrTooFarAhead, m.iteration, c.iteration)
	}

	// skipMessageKeys, on copies: ck advances to m.iteration, keeping the keys passed.
	ck := c.chainKey
	newSkipped := make([]skippedKey, 0, m.iteration-c.iteration)
	for i := c.iteration; i < m.iteration; i++ {
		next, mk := kdfCK(&ck)
		newSkipped = append(newSkipped, skippedKey{iteration: i, mk: mk})
		ck = next
	}
	next, mk := kdfCK(&ck)
	clear(ck[:])
	pt, err := open(&mk, m)
	clear(mk[:])
	if err != nil {
		for i := range newSkipped {
			clear(newSkipped[i].mk[:])
		}
		clear(next[:])
		return nil, err
	}

	// Commit.
	c.skipped = append(c.skipped, newSkipped...)
	if extra := len(c.skipped) - MaxSkippedKeys; extra > 0 {
		for i := range c.skipped[:extra] {
			clear(c.skipped[i].mk[:])
		}
		c.skipped = slices.Delete(c.skipped, 0, extra)
	}
	clear(c.chainKey[:])
	c.chainKey = next
	c.iteration = m.iteration + 1
	return pt, nil
}

// trySkippedMessageKeys opens a late message with its stored key and deletes the key,
// so that it opens exactly once.
func (c *receiverChain) trySkippedMessageKeys(m *Message) ([]byte, error) {
	i, found := slices.BinarySearchFunc(c.skipped, m.iteration, func(k skippedKey, it uint32) int {
		return cmpUint32(k.iteration, it)
	})
	if !found {
		return nil, fmt.Errorf("%w: iteration %d", ErrDuplicate, m.iteration)
	}
	pt, err := open(&c.skipped[i].mk, m)
	if err != nil {
		return nil, err
	}
	clear(c.skipped[i].mk[:])
	c.skipped = slices.Delete(c.skipped, i, i+1)
	return pt, nil
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// verify checks the message signature over sigPrefix ‖ header ‖ ciphertext.
func verify(pub *[pubKeySize]byte, m *Message) bool {
	signed := make([]byte, 0, len(sigPrefix)+len(m.signed))
	signed = append(signed, sigPrefix...)
	signed = append(signed, m.signed...)
	return ed25519.Verify(pub[:], signed, m.sig)
}

// open decrypts m.ciphertext with the keys expanded from mk, header as associated data.
func open(mk *[messageKeySize]byte, m *Message) ([]byte, error) {
	aead, nonce, err := messageAEAD(mk)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, m.ciphertext, m.signed[:headerSize])
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func (c *receiverChain) wipe() {
	clear(c.chainKey[:])
	for i := range c.skipped {
		clear(c.skipped[i].mk[:])
	}
	c.skipped = nil
}
