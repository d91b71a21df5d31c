package senderkey

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// A Distribution is a parsed SenderKeyDistribution message: what a member needs to
// decrypt one sender's chain from a given iteration on. It carries the chain key, a
// secret: the node sends it only inside pairwise (ratchet) sessions, to current members.
type Distribution struct {
	id        DistributionID
	iteration uint32
	chainKey  [chainKeySize]byte
	sigPub    [pubKeySize]byte
}

// ID returns the chain's distribution id.
func (d *Distribution) ID() DistributionID { return d.id }

// Iteration returns the first iteration the distribution can decrypt.
func (d *Distribution) Iteration() uint32 { return d.iteration }

// SigningKey returns the chain's Ed25519 signing public key.
func (d *Distribution) SigningKey() ed25519.PublicKey {
	return ed25519.PublicKey(append([]byte(nil), d.sigPub[:]...))
}

// ParseDistribution parses a distribution message:
//
//	version (1) ‖ suite (1) ‖ distribution id (16) ‖ iteration (4) ‖ chain key (32) ‖ signing public key (32)
func ParseDistribution(b []byte) (*Distribution, error) {
	if len(b) != distributionSize {
		return nil, fmt.Errorf("%w: distribution of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version || b[1] != Suite {
		return nil, fmt.Errorf("%w: distribution version %#x suite %#x", ErrUnsupported, b[0], b[1])
	}
	d := &Distribution{}
	off := 2
	off += copy(d.id[:], b[off:])
	d.iteration = binary.BigEndian.Uint32(b[off:])
	off += 4
	off += copy(d.chainKey[:], b[off:])
	copy(d.sigPub[:], b[off:])
	return d, nil
}

// marshalDistribution is the inverse of ParseDistribution.
func marshalDistribution(id *DistributionID, iteration uint32, ck *[chainKeySize]byte, sigPub []byte) []byte {
	b := make([]byte, 0, distributionSize)
	b = appendHeader(b, id, iteration)
	b = append(b, ck[:]...)
	return append(b, sigPub...)
}
