package ratchet

import (
	"encoding/binary"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// header is a parsed message header (see the package doc for the layout).
type header struct {
	version byte
	flags   byte
	dh      [kdf.X25519Size]byte // sender's ratchet public key
	pn      uint32               // length of the sender's previous sending chain
	n       uint32               // message number in the current sending chain
	ext     []byte               // extensions, authenticated, ignored in v1
}

// appendHeader appends the wire form of h to b.
func appendHeader(b []byte, h *header) []byte {
	b = append(b, h.version, h.flags)
	b = append(b, h.dh[:]...)
	b = binary.BigEndian.AppendUint32(b, h.pn)
	b = binary.BigEndian.AppendUint32(b, h.n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.ext)))
	return append(b, h.ext...)
}

// parseHeader parses the header at the start of msg and returns it with its
// length. It checks the encoding only, not the key.
func parseHeader(msg []byte) (header, int, error) {
	var h header
	if len(msg) < HeaderSize {
		return h, 0, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(msg))
	}
	h.version, h.flags = msg[0], msg[1]
	if h.version != Version {
		return h, 0, fmt.Errorf("%w: version %#x", ErrMalformed, h.version)
	}
	if h.flags != 0 {
		return h, 0, fmt.Errorf("%w: reserved flags %#x", ErrMalformed, h.flags)
	}
	copy(h.dh[:], msg[2:])
	h.pn = binary.BigEndian.Uint32(msg[34:])
	h.n = binary.BigEndian.Uint32(msg[38:])
	extLen := int(binary.BigEndian.Uint16(msg[42:]))
	if extLen > MaxExtensionSize || len(msg) < HeaderSize+extLen {
		return h, 0, fmt.Errorf("%w: extension length %d", ErrMalformed, extLen)
	}
	h.ext = msg[HeaderSize : HeaderSize+extLen]
	return h, HeaderSize + extLen, nil
}
