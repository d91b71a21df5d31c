// Package invite owns contact invites: the signed "petrel:" link that lets a
// person who has never met you add you as a contact and reach your node, and
// its QR code.
//
// # API
//
//	type Invite struct {
//		Identity *identity.PublicIdentity
//		PeerID   peer.ID
//		Name     string
//		Addrs    []ma.Multiaddr // without /p2p/
//		Relays   []ma.Multiaddr // with /p2p/ of the relay
//		Created  time.Time
//		ID       []byte    // version 2 only: IDSize bytes
//		Expires  time.Time // version 2 only
//	}
//	func (inv *Invite) Expired(now time.Time) bool
//	func Link(id *identity.Identity, inv Invite) (string, error)
//	func Parse(link string) (*Invite, error)
//	func QRSVG(link string) (string, error)
//
// Parse fails with ErrTooLarge, ErrMalformed or ErrBadSignature; Link with
// ErrInvalid or ErrTooLarge.
//
// # Link
//
//	link = "petrel:" ‖ base64url-without-padding(payload)
//
// A link is at most MaxLinkLen = 1023 bytes, so the payload is at most 762
// bytes. Parse ignores white space around a link; it refuses "petrel://",
// any other scheme or case, padding, non-zero trailing bits and any byte
// outside the base64url alphabet inside the link (line breaks included), so
// an invite has exactly one link.
//
// # Payload, version 1
//
// Lengths and counts are one unsigned byte; integers are big-endian.
//
//	size    field
//	1       version = 0x01
//	129     identity: the inviter's public identity (identity.PublicIdentity.Bytes:
//	        0x01 ‖ Ed25519 public ‖ X25519 public ‖ self-signature)
//	1 + n   peer id: n = 1..255, then the libp2p peer ID's multihash bytes
//	1 + k   name: k = 0..64, then the display name in UTF-8
//	1       a = address count
//	a × (1 + m)  each address: m = 1..255, then the binary multiaddr, not ending in /p2p/
//	1       r = relay count
//	r × (1 + m)  each home relay: m = 1..255, then the binary multiaddr, ending in /p2p/<relay>
//	8       created: Unix seconds, 0 … 253402300799 (9999-12-31T23:59:59Z)
//	64      signature = Ed25519(identity key, "petrel_v1_sig_invite\x00" ‖ every byte above)
//
// # Payload, version 2 (expiring invites)
//
// Version 2 is version 1 with the first byte 0x02 and, between created and
// the signature:
//
//	16      invite id: random, names the invite on the inviter's node
//	8       expires: Unix seconds, created … 253402300799
//
// Link writes version 2 exactly when Invite.ID is set (and then Expires must
// be, not before Created). The signature covers the id and the expiry, so a
// later expiry, another id, or the two cut away and the version byte set back
// to 1 are all ErrBadSignature. Parse does not look at the clock: callers
// refuse an expired invite with Invite.Expired. A version 1 link (the earlier
// release's) stays valid and never expires.
//
// The signature covers every byte before it, so an altered byte anywhere is
// refused (ErrBadSignature); a signature made for another purpose with the
// same key cannot pass as an invite because of the domain. The signature
// binds the peer ID, addresses and relays to the identity: whoever knows the
// identity (from a safety-number check, say) can trust where the invite says
// to find it.
//
// Parse also refuses, even under a valid signature: another version; an
// identity that identity.ParsePublic refuses; a peer ID that is not what
// libp2p derives from a key (an identity multihash of an inlined public key,
// re-derived to be canonical, or a 32-byte SHA-256 multihash); a name that is
// not UTF-8, is longer than 64 bytes or holds a control character; a
// multiaddr that does not parse, is empty or is not in canonical binary form;
// an address ending in /p2p/ or a relay not ending in it; a count larger than
// the bytes that follow can hold; a created time out of range; any byte
// between created and the signature. Every allocation is bounded by the
// link's length.
//
// The name is a hint from the inviter, not a verified fact; a UI shows it as
// untrusted text. Created lets a node prefer the newer of two invites from
// one identity.
//
// # Size
//
// Link keeps an invite under 1 KiB by dropping addresses from the end of
// Addrs, then relays from the end of Relays; it fails only when the invite
// does not fit with neither, which a valid peer ID cannot cause. A typical
// invite (Ed25519 peer ID, 64-byte name, two IP addresses, two relays with
// IP addresses and Ed25519 peer IDs) has a 444-byte payload and a 599-byte
// link; without name, addresses and relays it is 333 bytes.
//
// # QR code
//
// An expiring (version 2) invite adds 24 bytes: the typical invite above is a
// 631-byte link.
//
// # QR code
//
// QRSVG encodes the link at error correction level L (rsc.io/qr, byte mode),
// which phone cameras read from a screen more easily than a denser code, and
// writes an SVG: viewBox "0 0 N N" with N = modules + 8 (a quiet zone of 4
// modules each side), a white rectangle and one black path of horizontal
// runs of width 1. Nothing else: no scripts, no external references. The
// typical link above, version 1 or 2, gives 85×85 modules and an SVG of
// about 17 KB.
package invite
