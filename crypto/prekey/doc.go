// Package prekey owns a device's prekeys: the signed X25519 prekey (rotated
// weekly, kept for a 30-day grace after rotation), X25519 one-time prekeys,
// the signed ML-KEM-768 last-resort prekey and signed ML-KEM-768 one-time
// prekeys. It defines the public Bundle a directory hands to an initiator and
// the private Store the node keeps (and serializes) to answer handshakes.
//
// # API
//
//	func NewStore(id *identity.Identity, now time.Time) (*Store, error)
//	func UnmarshalStore(b []byte) (*Store, error)
//	func (*Store) Marshal() []byte
//	func (*Store) Identity() *identity.PublicIdentity
//	func (*Store) Bundle() *Bundle                   // first unused one-time keys, not consumed
//	func (*Store) SignedPrekey() SignedPrekey
//	func (*Store) LastResortPrekey() PQPrekey
//	func (*Store) OneTimePrekeys() []OneTimePrekey
//	func (*Store) PQOneTimePrekeys() []PQPrekey
//	func (*Store) NeedsRotation(now time.Time) bool
//	func (*Store) Rotate(id *identity.Identity, now time.Time) error
//	func (*Store) Refill(id *identity.Identity, now time.Time) ([]OneTimePrekey, []PQPrekey, error)
//	func (*Store) Grow(id *identity.Identity, now time.Time, nOPK, nPQ int) ([]OneTimePrekey, []PQPrekey, error)
//	func (*Store) Consume(ids []uint32) error
//	// used by pqxdh.Respond:
//	func (*Store) SignedPrekeyPair(id uint32, now time.Time) (*ecdh.PrivateKey, error)
//	func (*Store) OneTimePrekeyDH(id uint32, remote *ecdh.PublicKey) ([]byte, error)
//	func (*Store) Decapsulate(id uint32, now time.Time, ct []byte) (ss []byte, kind Kind, err error)
//
//	func NewBundle(idk *identity.PublicIdentity, spk SignedPrekey, pq PQPrekey, opk *OneTimePrekey) (*Bundle, error)
//	func ParseBundle(b []byte) (*Bundle, error)     // parses and verifies
//	func (*Bundle) Marshal() []byte
//	func (*Bundle) Verify() error
//	func ParseSignedPrekey, ParseOneTimePrekey, ParsePQPrekey (element forms)
//
// One-time keys of both kinds are consumed exactly once: pqxdh.Respond only
// reads the store and returns the ids it used; the node calls Consume after the
// first message of the session has decrypted, and persists the store. A second
// handshake naming a consumed id fails with ErrUnknownPrekey. The last-resort
// key is never consumed. A Store is not safe for concurrent use.
//
// Prekey ids come from one counter per store (starting at 1), so an id names
// exactly one key of any kind; id 0 means "none".
//
// # Signatures
//
// Signed objects use the identity package's domains (the identity's Ed25519
// key signs):
//
//	signed prekey: "petrel_v1_sig_spk\x00"  ‖ id (4) ‖ created (8) ‖ X25519 public (32)
//	PQ prekey:     "petrel_v1_sig_pqpk\x00" ‖ kem (1) ‖ kind (1) ‖ id (4) ‖ created (8) ‖ encapsulation key
//
// The kind byte is signed, so a one-time ML-KEM key cannot be passed off as the
// last-resort key or the reverse, and the distinct domains keep a signed-prekey
// signature from verifying as a PQ-prekey signature. X25519 one-time prekeys
// are unsigned, as in X3DH and PQXDH: they only add forward secrecy.
//
// # Wire format
//
// Integers are big-endian; created is Unix seconds.
//
//	SignedPrekey (108 bytes):  id (4) ‖ created (8) ‖ X25519 public (32) ‖ signature (64)
//	OneTimePrekey (36 bytes):  id (4) ‖ X25519 public (32)
//	PQPrekey (1262 bytes for ML-KEM-768):
//	    kem (1) ‖ kind (1) ‖ id (4) ‖ created (8) ‖ encapsulation key (1184) ‖ signature (64)
//	    kem  = 0x01 ML-KEM-768; 0x02 is reserved for ML-KEM-1024 (refused for now)
//	    kind = 0x01 last resort, 0x02 one-time
//	Bundle:
//	    ver (1) = 0x01 ‖ public identity (129, see package identity) ‖ SignedPrekey (108)
//	    ‖ PQPrekey (1262) ‖ has one-time prekey (1: 0x00 or 0x01) ‖ [OneTimePrekey (36)]
//
// X25519 keys must be canonical and not of low order; ML-KEM keys must pass
// FIPS 203's encapsulation-key check (crypto/mlkem.NewEncapsulationKey768).
//
// The Store's serialized form (secret; for the node's encrypted store) is
// versioned and documented in store_marshal.go.
package prekey
