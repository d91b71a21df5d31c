package devicelink

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Specification constants of the link (docs/PROTOCOL.md, "Device links").
const (
	// Scheme begins every device link.
	Scheme = "petrel-device:"
	// LinkVersion is the first byte of a link payload.
	LinkVersion = 0x01
	// SecretSize is the size of the one-time secret a link carries.
	SecretSize = 32
	// MaxLinkLen bounds a whole link (it fits a QR code a phone reads from a screen).
	MaxLinkLen = 2048
	// maxField bounds one length-prefixed field (one length byte).
	maxField = 255
	// maxAddrs bounds the addresses and the relays of a link (each).
	maxAddrs = 8
	// maxExpires is 9999-12-31T23:59:59Z.
	maxExpires = 253402300799

	labelLinkID = "petrel_v1_devicelink_id\x00"
	labelKey    = "petrel_v1_devicelink_key\x00"
)

// Errors a caller can branch on.
var (
	// ErrMalformed reports a link or a frame that is not well-formed.
	ErrMalformed = errors.New("devicelink: malformed")
	// ErrRefused reports a link the primary refused (unknown, spent, expired, a wrong proof
	// or too many attempts: the primary does not say which, so a thief learns nothing).
	ErrRefused = errors.New("devicelink: link refused")
	// ErrExpired reports a link past its expiry, found before dialling.
	ErrExpired = errors.New("devicelink: link expired")
	// ErrBadPrimary reports a primary that did not prove the link's secret or sent a device
	// list that does not verify or does not list this device.
	ErrBadPrimary = errors.New("devicelink: the linking device did not prove itself")
)

var linkEncoding = base64.RawURLEncoding.Strict()

// Link is what a device link carries: where the primary is, the one-time secret and when
// the link expires.
type Link struct {
	PeerID  peer.ID
	Addrs   []string // the primary's listen addresses, without /p2p/
	Relays  []string // the primary's home relays, full multiaddrs with /p2p/
	Secret  [SecretSize]byte
	Expires time.Time // whole seconds
}

// ID names the link in the primary's store and on the wire: 16 bytes of a labelled SHA-256
// of the secret, hex. It reveals nothing of the secret.
func (l *Link) ID() string { return linkID(l.Secret[:]) }

func linkID(secret []byte) string {
	sum := sha256.Sum256(append([]byte(labelLinkID), secret...))
	return hex.EncodeToString(sum[:16])
}

// proofKey is the HMAC key both sides derive from the secret; the primary stores only this
// hash, never the secret.
func proofKey(secret []byte) [32]byte {
	return sha256.Sum256(append([]byte(labelKey), secret...))
}

// String encodes the link: Scheme and the unpadded base64url of
//
//	0x01 ‖ u8 len ‖ peer id ‖ u8 n ‖ (u8 len ‖ addr)ⁿ ‖ u8 m ‖ (u8 len ‖ relay)ᵐ ‖ secret (32) ‖ expires (8, Unix s, big-endian)
func (l *Link) String() string {
	b, err := l.payload()
	if err != nil {
		return ""
	}
	return Scheme + linkEncoding.EncodeToString(b)
}

func (l *Link) payload() ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	b := []byte{LinkVersion, byte(len(l.PeerID))}
	b = append(b, l.PeerID...)
	for _, set := range [][]string{l.Addrs, l.Relays} {
		b = append(b, byte(len(set)))
		for _, a := range set {
			b = append(b, byte(len(a)))
			b = append(b, a...)
		}
	}
	b = append(b, l.Secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Expires.Unix()))
	if len(Scheme)+linkEncoding.EncodedLen(len(b)) > MaxLinkLen {
		return nil, fmt.Errorf("%w: link too long", ErrMalformed)
	}
	return b, nil
}

func (l *Link) check() error {
	if len(l.PeerID) == 0 || len(l.PeerID) > maxField {
		return fmt.Errorf("%w: peer id", ErrMalformed)
	}
	if _, err := peer.IDFromBytes([]byte(l.PeerID)); err != nil {
		return fmt.Errorf("%w: peer id", ErrMalformed)
	}
	if len(l.Addrs) > maxAddrs || len(l.Relays) > maxAddrs {
		return fmt.Errorf("%w: too many addresses", ErrMalformed)
	}
	for _, a := range l.Addrs {
		m, err := ma.NewMultiaddr(a)
		if len(a) == 0 || len(a) > maxField || err != nil || m.String() != a {
			return fmt.Errorf("%w: address", ErrMalformed)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err == nil {
			return fmt.Errorf("%w: address with /p2p/", ErrMalformed)
		}
	}
	for _, r := range l.Relays {
		m, err := ma.NewMultiaddr(r)
		if len(r) == 0 || len(r) > maxField || err != nil || m.String() != r {
			return fmt.Errorf("%w: relay", ErrMalformed)
		}
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			return fmt.Errorf("%w: relay without /p2p/", ErrMalformed)
		}
	}
	if s := l.Expires.Unix(); s <= 0 || s > maxExpires {
		return fmt.Errorf("%w: expiry", ErrMalformed)
	}
	return nil
}

// Parse decodes a link strictly: the exact scheme, canonical base64url, every length in
// range, every address a canonical multiaddr, nothing left over. It does not check the
// expiry (Join does, against its clock).
func Parse(s string) (*Link, error) {
	if len(s) > MaxLinkLen {
		return nil, fmt.Errorf("%w: link of %d bytes", ErrMalformed, len(s))
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), Scheme)
	if !ok {
		return nil, fmt.Errorf("%w: not a %s link", ErrMalformed, Scheme)
	}
	b, err := linkEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrMalformed)
	}
	r := reader{b: b}
	if v := r.byte(); v != LinkVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	l := &Link{PeerID: peer.ID(r.prefixed())}
	for _, set := range []*[]string{&l.Addrs, &l.Relays} {
		n := r.byte()
		if n > maxAddrs {
			return nil, fmt.Errorf("%w: %d addresses", ErrMalformed, n)
		}
		for range n {
			*set = append(*set, string(r.prefixed()))
		}
	}
	copy(l.Secret[:], r.take(SecretSize))
	exp := r.take(8)
	if r.bad || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: payload length", ErrMalformed)
	}
	s64 := binary.BigEndian.Uint64(exp)
	if s64 == 0 || s64 > maxExpires {
		return nil, fmt.Errorf("%w: expiry", ErrMalformed)
	}
	l.Expires = time.Unix(int64(s64), 0).UTC()
	if err := l.check(); err != nil {
		return nil, err
	}
	return l, nil
}

// reader reads a payload; once a read runs past the end, bad is set and reads return zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() int { return int(r.take(1)[0]) }

func (r *reader) prefixed() []byte { return r.take(r.byte()) }
