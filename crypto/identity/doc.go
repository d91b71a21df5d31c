// Package identity owns a petrel user's long-term identity: an Ed25519
// signing key and a separate X25519 Diffie-Hellman key whose public half is
// signed by the Ed25519 key. Keeping two keys avoids using one key across two
// algorithms (XEdDSA would only matter for libsignal wire compatibility,
// which is not a goal).
//
// # API
//
//	func Generate() (*Identity, error)
//	func Unmarshal(b []byte) (*Identity, error)
//	func (*Identity) Marshal() []byte
//	func (*Identity) Public() *PublicIdentity
//	func (*Identity) UserID() UserID
//	func (*Identity) Sign(d Domain, msg []byte) []byte
//	func (*Identity) DH(remote *ecdh.PublicKey) ([]byte, error)
//
//	func ParsePublic(b []byte) (*PublicIdentity, error)
//	func ParsePublicText(s string) (*PublicIdentity, error)
//	func (*PublicIdentity) Bytes() []byte      // 129-byte wire form
//	func (*PublicIdentity) Key() [64]byte      // Ed25519 ‖ X25519, used in AD
//	func (*PublicIdentity) String() string     // "petrel-idpk1:…"
//	func (*PublicIdentity) Verify(d Domain, msg, sig []byte) bool
//	func (*PublicIdentity) Equal(*PublicIdentity) bool
//	func (*PublicIdentity) Compare(*PublicIdentity) int
//	func (*PublicIdentity) UserID() UserID
//	func (*PublicIdentity) DHPublicKey() *ecdh.PublicKey
//	func (*PublicIdentity) SigningKey() ed25519.PublicKey
//
// Secrets never print: Identity's String and GoString are redacted and its
// MarshalJSON and MarshalText fail. Compare public identities with Equal, not ==.
//
// # Signatures
//
// Every signature is Ed25519 over a domain prefix followed by the object:
//
//	sig = Ed25519.Sign(sk, domain ‖ msg)
//
// The domains are the Domain constants of this package
// ("petrel_v1_sig_idk\x00", "petrel_v1_sig_spk\x00", "petrel_v1_sig_pqpk\x00",
// "petrel_v1_sig_sealed\x00", "petrel_v1_sig_mailbox\x00",
// "petrel_v1_sig_gstate\x00" for group state changes, "petrel_v1_sig_devlist\x00" for an
// account's device list).
// Each ends in a NUL byte so no domain is a prefix of another.
//
// # Wire format
//
// Public identity (129 bytes):
//
//	+---------+----------------------+--------------------+-----------------+
//	| ver (1) | Ed25519 public (32)  | X25519 public (32) | signature (64)  |
//	+---------+----------------------+--------------------+-----------------+
//	ver       = 0x01
//	signature = Ed25519.Sign(ed, "petrel_v1_sig_idk\x00" ‖ X25519 public)
//
// The identity key used in associated data and handshakes is the 64 bytes
// Ed25519 public ‖ X25519 public (Key). The text form of a public identity
// is "petrel-idpk1:" followed by the unpadded base64url encoding of the 129
// bytes. The X25519 public key must be canonical (high bit clear, below 2^255-19)
// and not of low order.
//
// Private identity (Marshal, for the node's encrypted store; 65 bytes):
//
//	+---------+---------------------+----------------------+
//	| ver (1) | Ed25519 seed (32)   | X25519 private (32)  |
//	+---------+---------------------+----------------------+
//	ver = 0x01
//
// Unmarshal recomputes both public keys and the (deterministic) signature.
//
// # User ID
//
// A UserID is a stable, printable name for a user derived from the Ed25519
// public key only (the X25519 key is bound to it by signature and could be
// re-signed later without changing the ID):
//
//	UserID = lowercase unpadded base32(SHA-256("petrel_v1_userid\x00" ‖ Ed25519 public)[:25])
//
// 25 bytes = 200 bits give 40 characters; finding two keys with the same ID
// costs about 2^100 work and impersonating a given ID about 2^200. The ID
// names a user; it is not a substitute for safety-number verification.
package identity
