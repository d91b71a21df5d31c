package invite

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// Specification constants.
const (
	// Version is the first byte of a version 1 payload (no id, no expiry).
	Version = 0x01
	// Version2 is the first byte of a payload that ends, before its signature,
	// in an invite id (IDSize bytes) and an expiry (8 bytes, Unix seconds).
	Version2 = 0x02
	// IDSize is the size of an invite id.
	IDSize = 16
	// Scheme begins every link.
	Scheme = "petrel:"
	// Domain separates invite signatures from every other signature made
	// with an identity key.
	Domain identity.Domain = "petrel_v1_sig_invite\x00"
	// MaxLinkLen is the greatest length of a link, so that a link is always
	// under 1 KiB.
	MaxLinkLen = 1023
	// MaxNameLen is the greatest length of a display name in bytes.
	MaxNameLen = 64
	// maxPayloadLen is the greatest payload that fits in MaxLinkLen:
	// (1023-7) base64 characters carry 762 bytes.
	maxPayloadLen = (MaxLinkLen - len(Scheme)) * 6 / 8
	// maxFieldLen bounds every length-prefixed field (one length byte).
	maxFieldLen = 255
	// maxCount bounds address and relay counts (one count byte).
	maxCount = 255
	// maxCreated is 9999-12-31T23:59:59Z, the last second time.Time can
	// write in RFC 3339.
	maxCreated = 253402300799
)

var (
	// ErrMalformed reports a link that is not a well-formed version 1 invite.
	ErrMalformed = errors.New("invite: malformed link")
	// ErrBadSignature reports a well-formed invite whose signature does not
	// verify under its identity: it was altered or forged.
	ErrBadSignature = errors.New("invite: bad signature")
	// ErrTooLarge reports a link longer than MaxLinkLen, or an invite that
	// does not fit in one even without addresses and relays.
	ErrTooLarge = errors.New("invite: too large")
	// ErrInvalid reports an Invite that Link cannot encode: no identity or
	// another than the signer's, a peer ID that is not a libp2p peer ID, a
	// name or time out of range, an address ending in another peer's /p2p/,
	// or a relay address without /p2p/.
	ErrInvalid = errors.New("invite: invalid invite")
)

var linkEncoding = base64.RawURLEncoding.Strict()

// Invite is what a person needs to add the inviter as a contact and reach
// their node.
type Invite struct {
	// Identity is the inviter's public identity; it signs the invite.
	Identity *identity.PublicIdentity
	// PeerID is the inviter's libp2p peer ID.
	PeerID peer.ID
	// Name is the display name the inviter suggests: valid UTF-8, no control
	// characters, at most MaxNameLen bytes. It is a hint chosen by the
	// inviter, not a verified fact.
	Name string
	// Addrs are addresses of the inviter's node, without /p2p/.
	Addrs []ma.Multiaddr
	// Relays are the inviter's home relays, with /p2p/ of the relay.
	Relays []ma.Multiaddr
	// Created is when the invite was made, to the second.
	Created time.Time
	// ID (IDSize random bytes) names the invite on the inviter's node, which
	// refuses requests made under an invite it revoked or that expired. nil
	// in a version 1 link.
	ID []byte
	// Expires is when the invite stops being valid, to the second; zero in a
	// version 1 link (which never expires). Set exactly when ID is.
	Expires time.Time
}

// Expired reports whether the invite has an expiry and now is at or past it.
func (inv *Invite) Expired(now time.Time) bool {
	return !inv.Expires.IsZero() && !now.Before(inv.Expires)
}

// Link signs inv with id and encodes it as "petrel:" followed by the unpadded
// base64url of the payload; the result is at most MaxLinkLen bytes.
//
// inv.Identity must equal id's public identity (nil means id's). Link
// normalises what it can: it drops invalid UTF-8 and control characters from
// the name and cuts it to MaxNameLen bytes on a rune boundary, and strips a
// trailing /p2p/ of inv.PeerID from addresses. If the link would be too long,
// it drops addresses from the end of Addrs, then relays from the end of
// Relays, until it fits (the caller should list the best first); it fails
// with ErrTooLarge only if the invite does not fit with neither.
func Link(id *identity.Identity, inv Invite) (string, error) {
	if id == nil {
		return "", fmt.Errorf("%w: no signing identity", ErrInvalid)
	}
	if inv.Identity == nil {
		inv.Identity = id.Public()
	}
	if !inv.Identity.Equal(id.Public()) {
		return "", fmt.Errorf("%w: inv.Identity is not the signing identity", ErrInvalid)
	}
	inv.Name = sanitizeName(inv.Name)
	inv.Created = unixSeconds(inv.Created.Unix())
	if !inv.Expires.IsZero() {
		inv.Expires = unixSeconds(inv.Expires.Unix())
	}
	addrs := make([]ma.Multiaddr, 0, len(inv.Addrs))
	for _, a := range inv.Addrs {
		t, p := peer.SplitAddr(a)
		if p != "" && p != inv.PeerID {
			return "", fmt.Errorf("%w: address %s names another peer", ErrInvalid, a)
		}
		addrs = append(addrs, t)
	}
	inv.Addrs = addrs
	inv.Relays = append([]ma.Multiaddr(nil), inv.Relays...)

	for {
		body, err := encodeBody(&inv)
		if err != nil {
			return "", err
		}
		if linkLen(len(body)+ed25519.SignatureSize) <= MaxLinkLen {
			p := append(body, id.Sign(Domain, body)...)
			return Scheme + linkEncoding.EncodeToString(p), nil
		}
		switch {
		case len(inv.Addrs) > 0:
			inv.Addrs = inv.Addrs[:len(inv.Addrs)-1]
		case len(inv.Relays) > 0:
			inv.Relays = inv.Relays[:len(inv.Relays)-1]
		default:
			return "", fmt.Errorf("%w: %d bytes without addresses", ErrTooLarge, linkLen(len(body)+ed25519.SignatureSize))
		}
	}
}

func linkLen(payloadLen int) int {
	return len(Scheme) + linkEncoding.EncodedLen(payloadLen)
}

// Parse decodes and verifies a link. Surrounding white space is ignored; the
// scheme must be exactly "petrel:" ("petrel://" is refused). It fails with
// ErrTooLarge, ErrMalformed or ErrBadSignature; it bounds every count and
// length by the link's size.
func Parse(link string) (*Invite, error) {
	inv, _, _, err := parseLink(link)
	return inv, err
}

// parseLink is Parse that also returns the payload's signed bytes and
// signature.
func parseLink(link string) (inv *Invite, body, sig []byte, err error) {
	link = strings.TrimSpace(link)
	if len(link) > MaxLinkLen {
		return nil, nil, nil, fmt.Errorf("%w: link of %d bytes", ErrTooLarge, len(link))
	}
	rest, ok := strings.CutPrefix(link, Scheme)
	if !ok || strings.HasPrefix(rest, "//") {
		return nil, nil, nil, fmt.Errorf("%w: not a %q link", ErrMalformed, Scheme)
	}
	// The decoder would skip CR and LF inside the text; refuse them (and
	// everything else outside the alphabet) so that a link has one form.
	if i := strings.IndexFunc(rest, notBase64URL); i >= 0 {
		return nil, nil, nil, fmt.Errorf("%w: byte %d is not base64url", ErrMalformed, len(Scheme)+i)
	}
	p, err := linkEncoding.DecodeString(rest)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	inv, body, sig, err = decodePayload(p)
	if err != nil {
		return nil, nil, nil, err
	}
	if !inv.Identity.Verify(Domain, body, sig) {
		return nil, nil, nil, ErrBadSignature
	}
	return inv, body, sig, nil
}

func notBase64URL(c rune) bool {
	return !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_')
}

func unixSeconds(s int64) time.Time { return time.Unix(s, 0).UTC() }
