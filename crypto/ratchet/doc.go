// Package ratchet implements the Double Ratchet (Signal, revision 3) for
// petrel's 1:1 sessions: KDF chains, the DH ratchet with X25519, skipped
// message keys, message encryption with ChaCha20-Poly1305, and the
// serialized session state. Sessions are created by package pqxdh.
//
// # API
//
//	func NewInitiator(p Params, sk *[32]byte, theirRatchetKey []byte) (*State, error)
//	func NewResponder(p Params, sk *[32]byte, ourRatchetKey *ecdh.PrivateKey) (*State, error)
//	func Unmarshal(b []byte) (*State, error)
//	func (*State) Encrypt(plaintext []byte) ([]byte, error)
//	func (*State) Decrypt(message []byte) ([]byte, error)
//	func (*State) Marshal() []byte
//	func (*State) Params() Params
//	func (*State) IsInitiator() bool
//	func (*State) HasReceived() bool
//	func (*State) Wipe()
//
// Errors to branch on: ErrReplay, ErrTooManySkipped, ErrDecrypt, ErrMalformed,
// ErrInvalidKey, ErrNoSendingChain, ErrTooLarge.
//
// # Guarantees
//
// Encrypt advances the state before it returns the message: persist the
// state before sending, and a crash can never cause a key to be reused.
// Decrypt is failure-atomic: on any error, the state (and its Marshal output)
// is unchanged. A message decrypts at most once; a second attempt returns
// ErrReplay. MAX_SKIP (1000 per chain) is checked before any KDF work; at
// most 2000 skipped keys are stored (oldest evicted) across at most 5
// receiving chains. Chain and message keys are zeroed after use; the X25519
// private keys live inside crypto/ecdh and cannot be zeroed.
//
// # Key derivation (package crypto/internal/kdf)
//
//	RK, CK = HKDF(IKM = DH out, salt = RK, info = "petrel_v1_Ratchet", 64)   KDF_RK
//	MK = HMAC(CK, 0x01); CK' = HMAC(CK, 0x02)                              KDF_CK
//	key ‖ nonce = HKDF(IKM = MK, salt = 0×32, info = "petrel_v1_MessageKeys", 32+12)
//
// The initiator starts as RatchetInitAlice(SK, responder's signed prekey);
// the responder as RatchetInitBob(SK, signed prekey pair).
//
// # Wire format: message
//
//	+---------+-----------+------------------+--------+-------+--------------+------------+
//	| ver (1) | flags (1) | ratchet pub (32) | PN (4) | N (4) | ext len (2)  | ext (…)    |
//	+---------+-----------+------------------+--------+-------+--------------+------------+
//	| ChaCha20-Poly1305(key, nonce, padded plaintext, AD) ‖ tag (16)                     |
//	+-------------------------------------------------------------------------------------+
//	ver = 0x01; flags = 0x00 (other values refused); PN, N, ext len big-endian.
//	ext: reserved for a later post-quantum ratchet step. v1 senders send none;
//	     receivers accept up to 4096 bytes, authenticate them (they are in the
//	     AD) and ignore them.
//	AD = "petrel_v1_Message\x00" ‖ suite (1) ‖ initiator identity key (64)
//	     ‖ responder identity key (64) ‖ header (44 + ext len)
//	padded plaintext = plaintext ‖ 0x80 ‖ 0x00…, to 256 bytes, or above that to
//	     the Padmé size of len+1 (≤ 12% overhead). Plaintexts ≤ 1 MiB.
//
// The serialized state layout is documented on State.Marshal.
//
// # Header encryption
//
// Headers are not encrypted (the Double Ratchet's header-encryption variant,
// §4, is not used). Signal does not use it for 1:1 sessions either. What the
// header reveals — the sender's current ratchet key and message counters —
// is visible only to whoever sees the ratchet message itself, and in petrel
// that is nobody but the peers: node-to-node traffic runs inside libp2p Noise
// channels, and messages stored at a relay travel inside sealed envelopes
// (package sealed) that hide sender and content. Header encryption would cost
// trial decryptions against up to five header keys per message and a second
// AEAD, and complicate skipped-key handling, for no gain against those
// observers. The 2-byte extension field leaves room to add it with a new
// version.
package ratchet
