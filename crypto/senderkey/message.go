package senderkey

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// A DistributionID names one sender's chain in one group. It is 16 random bytes chosen
// when the chain is created, so it reveals nothing about the group or the sender; a new
// chain (a rotation) gets a new id. It is public.
type DistributionID [IDSize]byte

// String returns the id in lower-case hex.
func (id DistributionID) String() string { return hex.EncodeToString(id[:]) }

// A Message is a parsed group message. Parsing checks only the layout; Decrypt checks
// the signature and the ciphertext.
type Message struct {
	id         DistributionID
	iteration  uint32
	signed     []byte // header ‖ ciphertext, aliasing the input
	ciphertext []byte
	sig        []byte
}

// ID returns the distribution id the message was sent under, which lets a node find the
// (group, sender) whose ReceiverState decrypts it.
func (m *Message) ID() DistributionID { return m.id }

// Iteration returns the message's position in its chain.
func (m *Message) Iteration() uint32 { return m.iteration }

// ParseMessage parses a group message:
//
//	version (1) ‖ suite (1) ‖ distribution id (16) ‖ iteration (4) ‖ ciphertext (≥16) ‖ signature (64)
//
// The returned Message aliases b.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) < minMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version || b[1] != Suite {
		return nil, fmt.Errorf("%w: message version %#x suite %#x", ErrUnsupported, b[0], b[1])
	}
	m := &Message{
		iteration: binary.BigEndian.Uint32(b[2+IDSize:]),
		signed:    b[:len(b)-sigSize],
		sig:       b[len(b)-sigSize:],
	}
	copy(m.id[:], b[2:2+IDSize])
	m.ciphertext = m.signed[headerSize:]
	if m.iteration == maxIteration {
		return nil, fmt.Errorf("%w: iteration %d", ErrMalformed, m.iteration)
	}
	return m, nil
}

// appendHeader appends version ‖ suite ‖ id ‖ iteration.
func appendHeader(b []byte, id *DistributionID, iteration uint32) []byte {
	b = append(b, Version, Suite)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint32(b, iteration)
}
