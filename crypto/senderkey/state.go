package senderkey

import (
	"encoding/binary"
	"fmt"
)

// MarshalBinary encodes the state (it contains secrets: store it encrypted):
//
//	0x01 ‖ 'R' ‖ chain count (1) ‖ chains, newest first
//	chain = id (16) ‖ signing key (32) ‖ iteration (4) ‖ chain key (32) ‖
//	        skipped count (2) ‖ skipped count × (iteration (4) ‖ message key (32))
//
// The encoding is canonical: equal states give equal bytes.
func (r *ReceiverState) MarshalBinary() ([]byte, error) {
	n := 3
	for _, c := range r.chains {
		n += IDSize + pubKeySize + 4 + chainKeySize + 2 + len(c.skipped)*(4+messageKeySize)
	}
	b := make([]byte, 0, n)
	b = append(b, stateVersion, stateKindReceiver, byte(len(r.chains)))
	for _, c := range r.chains {
		b = append(b, c.id[:]...)
		b = append(b, c.sigPub[:]...)
		b = binary.BigEndian.AppendUint32(b, c.iteration)
		b = append(b, c.chainKey[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.skipped)))
		for _, k := range c.skipped {
			b = binary.BigEndian.AppendUint32(b, k.iteration)
			b = append(b, k.mk[:]...)
		}
	}
	return b, nil
}

// UnmarshalReceiver decodes a state written by ReceiverState.MarshalBinary. It refuses
// anything MarshalBinary could not have written: no chain or more than MaxChains, a
// repeated id, more than MaxSkippedKeys skipped keys, skipped iterations not strictly
// ascending below the chain's iteration, trailing bytes.
func UnmarshalReceiver(b []byte) (*ReceiverState, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: receiver state of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != stateVersion || b[1] != stateKindReceiver {
		return nil, fmt.Errorf("%w: receiver state version %#x kind %#x", ErrUnsupported, b[0], b[1])
	}
	n := int(b[2])
	if n < 1 || n > MaxChains {
		return nil, fmt.Errorf("%w: %d chains", ErrMalformed, n)
	}
	b = b[3:]
	r := &ReceiverState{chains: make([]*receiverChain, 0, n)}
	const fixed = IDSize + pubKeySize + 4 + chainKeySize + 2
	for range n {
		if len(b) < fixed {
			return nil, fmt.Errorf("%w: truncated chain", ErrMalformed)
		}
		c := &receiverChain{}
		off := copy(c.id[:], b)
		off += copy(c.sigPub[:], b[off:])
		c.iteration = binary.BigEndian.Uint32(b[off:])
		off += 4
		off += copy(c.chainKey[:], b[off:])
		ns := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		b = b[off:]
		if r.chain(c.id) != nil {
			return nil, fmt.Errorf("%w: repeated chain %s", ErrMalformed, c.id)
		}
		if ns > MaxSkippedKeys || len(b) < ns*(4+messageKeySize) {
			return nil, fmt.Errorf("%w: %d skipped keys", ErrMalformed, ns)
		}
		c.skipped = make([]skippedKey, ns)
		for i := range c.skipped {
			k := &c.skipped[i]
			k.iteration = binary.BigEndian.Uint32(b)
			copy(k.mk[:], b[4:])
			b = b[4+messageKeySize:]
			if k.iteration >= c.iteration || (i > 0 && k.iteration <= c.skipped[i-1].iteration) {
				return nil, fmt.Errorf("%w: skipped iteration %d out of order", ErrMalformed, k.iteration)
			}
		}
		r.chains = append(r.chains, c)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	return r, nil
}
