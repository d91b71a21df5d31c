package invite

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// This file holds the binary payload: encodeBody writes the signed part of a
// version 1 payload and decodePayload reads a whole one. Both apply the same
// checks, so what one writes the other accepts and nothing else.

// payloadReader reads the length-prefixed fields of a payload. Once a read
// fails, err is set and every further read returns zero values.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *payloadReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail("%s: %d bytes needed, %d left", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) byte(what string) int {
	v := r.take(1, what)
	if v == nil {
		return 0
	}
	return int(v[0])
}

// prefixed reads a one-byte length and that many bytes.
func (r *payloadReader) prefixed(what string) []byte {
	return r.take(r.byte(what+" length"), what)
}

// decodePayload parses a whole payload without checking its signature. It
// returns the invite, the signed bytes (everything before the signature) and
// the signature.
func decodePayload(p []byte) (inv *Invite, body, sig []byte, err error) {
	if len(p) > maxPayloadLen {
		return nil, nil, nil, fmt.Errorf("%w: payload of %d bytes", ErrTooLarge, len(p))
	}
	if len(p) < ed25519.SignatureSize {
		return nil, nil, nil, fmt.Errorf("%w: payload of %d bytes", ErrMalformed, len(p))
	}
	body, sig = p[:len(p)-ed25519.SignatureSize], p[len(p)-ed25519.SignatureSize:]
	r := &payloadReader{b: body}

	v := r.byte("version")
	if r.err == nil && v != Version && v != Version2 {
		return nil, nil, nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	inv = new(Invite)
	if idb := r.take(identity.PublicSize, "identity"); r.err == nil {
		if inv.Identity, err = identity.ParsePublic(idb); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: identity: %w", ErrMalformed, err)
		}
	}
	if pid := r.prefixed("peer id"); r.err == nil {
		inv.PeerID = peer.ID(pid)
		if err := checkPeerID(inv.PeerID); err != nil {
			r.fail("%v", err)
		}
	}
	if name := r.prefixed("name"); r.err == nil {
		inv.Name = string(name)
		if err := checkName(inv.Name); err != nil {
			r.fail("%v", err)
		}
	}
	inv.Addrs = r.multiaddrs("address", false)
	inv.Relays = r.multiaddrs("relay", true)
	if c := r.take(8, "created"); r.err == nil {
		s := int64(binary.BigEndian.Uint64(c))
		if s < 0 || s > maxCreated {
			r.fail("created %d out of range", s)
		}
		inv.Created = unixSeconds(s)
	}
	if v == Version2 {
		if id := r.take(IDSize, "invite id"); r.err == nil {
			inv.ID = bytes.Clone(id)
		}
		if e := r.take(8, "expires"); r.err == nil {
			s := int64(binary.BigEndian.Uint64(e))
			if s < inv.Created.Unix() || s > maxCreated {
				r.fail("expires %d out of range", s)
			}
			inv.Expires = unixSeconds(s)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d unexpected bytes before the signature", len(r.b))
	}
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	return inv, body, sig, nil
}

// multiaddrs reads a count and that many length-prefixed multiaddrs. The
// count is bounded by the bytes left (each entry takes at least 2), so a
// forged count cannot make it allocate more than the payload's size.
func (r *payloadReader) multiaddrs(what string, relay bool) []ma.Multiaddr {
	n := r.byte(what + " count")
	if r.err != nil || n == 0 {
		return nil
	}
	if 2*n > len(r.b) {
		r.fail("%s count %d with %d bytes left", what, n, len(r.b))
		return nil
	}
	out := make([]ma.Multiaddr, 0, n)
	for i := range n {
		raw := r.prefixed(what)
		if r.err != nil {
			return nil
		}
		m, err := parseMultiaddr(raw, relay)
		if err != nil {
			r.fail("%s %d: %v", what, i, err)
			return nil
		}
		out = append(out, m)
	}
	return out
}

// parseMultiaddr parses the binary form of an address (relay false: must not
// end in /p2p/) or of a relay address (relay true: must end in /p2p/). Only
// the canonical encoding is accepted.
func parseMultiaddr(raw []byte, relay bool) (ma.Multiaddr, error) {
	m, err := ma.NewMultiaddrBytes(raw)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errors.New("empty multiaddr")
	}
	if !bytes.Equal(m.Bytes(), raw) {
		return nil, errors.New("non-canonical multiaddr")
	}
	return m, checkMultiaddr(m, relay)
}

func checkMultiaddr(m ma.Multiaddr, relay bool) error {
	if len(m) == 0 {
		return errors.New("empty multiaddr")
	}
	endsInP2P := m[len(m)-1].Code() == ma.P_P2P
	switch {
	case relay && !endsInP2P:
		return fmt.Errorf("relay %s does not end in /p2p/", m)
	case !relay && endsInP2P:
		return fmt.Errorf("address %s ends in /p2p/", m)
	}
	return nil
}

// checkPeerID accepts what libp2p derives from a public key: an identity
// multihash of a key short enough to inline (re-derived to reject any other
// encoding of the same key), or a SHA-256 multihash.
func checkPeerID(id peer.ID) error {
	if len(id) == 0 || len(id) > maxFieldLen {
		return fmt.Errorf("peer id of %d bytes", len(id))
	}
	if _, err := peer.IDFromBytes([]byte(id)); err != nil {
		return fmt.Errorf("peer id: %w", err)
	}
	pk, err := id.ExtractPublicKey()
	switch {
	case err == nil:
		if !id.MatchesPublicKey(pk) {
			return errors.New("peer id: not the canonical id of its key")
		}
		return nil
	case errors.Is(err, peer.ErrNoPublicKey):
		// A valid multihash that is not an identity hash: only sha2-256
		// (code 0x12, 32-byte digest) names a libp2p peer.
		if len(id) != 34 || id[0] != 0x12 || id[1] != 0x20 {
			return errors.New("peer id: neither an inlined key nor a SHA-256 multihash")
		}
		return nil
	default:
		return fmt.Errorf("peer id: %w", err)
	}
}

// checkName accepts valid UTF-8 of at most MaxNameLen bytes without control
// characters.
func checkName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("name of %d bytes", len(name))
	}
	if !utf8.ValidString(name) {
		return errors.New("name is not UTF-8")
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("name contains control character %U", c)
		}
	}
	return nil
}

// sanitizeName makes any string acceptable to checkName: it drops invalid
// UTF-8 and control characters, then cuts to MaxNameLen bytes on a rune
// boundary.
func sanitizeName(name string) string {
	var b []byte
	for i, c := range name {
		if c == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				continue // invalid byte, not a real U+FFFD
			}
		}
		if unicode.IsControl(c) {
			continue
		}
		if len(b)+utf8.RuneLen(c) > MaxNameLen {
			break
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

// encodeBody checks inv and writes the signed part of its payload (everything
// but the signature).
func encodeBody(inv *Invite) ([]byte, error) {
	if inv.Identity == nil {
		return nil, fmt.Errorf("%w: no identity", ErrInvalid)
	}
	if err := checkPeerID(inv.PeerID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkName(inv.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	created := inv.Created.Unix()
	if inv.Created.IsZero() || created < 0 || created > maxCreated {
		return nil, fmt.Errorf("%w: created %v", ErrInvalid, inv.Created)
	}
	expiring := inv.ID != nil || !inv.Expires.IsZero()
	if expiring && (len(inv.ID) != IDSize || inv.Expires.IsZero() || inv.Expires.Before(inv.Created) || inv.Expires.Unix() > maxCreated) {
		return nil, fmt.Errorf("%w: invite id of %d bytes, expires %v", ErrInvalid, len(inv.ID), inv.Expires)
	}
	if len(inv.Addrs) > maxCount || len(inv.Relays) > maxCount {
		return nil, fmt.Errorf("%w: %d addresses and %d relays", ErrInvalid, len(inv.Addrs), len(inv.Relays))
	}

	b := make([]byte, 0, maxPayloadLen)
	if expiring {
		b = append(b, Version2)
	} else {
		b = append(b, Version)
	}
	b = append(b, inv.Identity.Bytes()...)
	b = appendPrefixed(b, []byte(inv.PeerID))
	b = appendPrefixed(b, []byte(inv.Name))
	var err error
	if b, err = appendMultiaddrs(b, inv.Addrs, false); err != nil {
		return nil, err
	}
	if b, err = appendMultiaddrs(b, inv.Relays, true); err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	if expiring {
		b = append(b, inv.ID...)
		b = binary.BigEndian.AppendUint64(b, uint64(inv.Expires.Unix()))
	}
	return b, nil
}

func appendPrefixed(b, v []byte) []byte {
	return append(append(b, byte(len(v))), v...)
}

func appendMultiaddrs(b []byte, ms []ma.Multiaddr, relay bool) ([]byte, error) {
	b = append(b, byte(len(ms)))
	for _, m := range ms {
		if err := checkMultiaddr(m, relay); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		raw := m.Bytes()
		if len(raw) > maxFieldLen {
			return nil, fmt.Errorf("%w: multiaddr of %d bytes", ErrInvalid, len(raw))
		}
		b = appendPrefixed(b, raw)
	}
	return b, nil
}
