// Package sealed seals envelopes for "sealed sender" delivery: an envelope names only
// the recipient's mailbox, so a relay that stores or forwards it learns the mailbox id
// and a padded length, and nothing about the sender or the content. Inside, the sender
// proves who it is to the recipient alone.
//
// The package owns the envelope format, its key derivation, the padding buckets and the
// sender signature. Keys are standard library types: the recipient's X25519 identity key
// (*ecdh.PrivateKey / *ecdh.PublicKey) and the sender's Ed25519 identity key.
//
// # Envelope
//
//	version 0x01 (1) ‖ suite 0x01 (1) ‖ mailbox id length n (1, 1..255) ‖ mailbox id (n) ‖
//	ephemeral X25519 public key E (32) ‖ ciphertext (padded inner + 16)
//
// A relay reads only the first 3+n bytes (ParseHeader). Everything up to and including E
// is the AEAD's associated data, so re-addressing an envelope breaks it.
//
// # Keys
//
// For a fresh ephemeral key pair e, E and the recipient's X25519 public key R:
//
//	key ‖ nonce = HKDF-SHA-256(ikm = X25519(e, R), salt = 0^32,
//	                           info = "petrel_v1_Sealed" ‖ E ‖ R, L = 32 + 12)
//
// Low-order R or E make X25519 output all zeros, which crypto/ecdh refuses: Seal fails
// with ErrInvalidKey and Open with ErrOpen.
//
// # Inner plaintext
//
//	sender Ed25519 public key (32) ‖ sender X25519 public key S (32) ‖ signature (64) ‖
//	payload length (4, big-endian) ‖ payload ‖ zero padding
//
//	signature = Ed25519(sender, "petrel_v1_sig_sealed\x00" ‖ 0x01 ‖ 0x01 ‖ R ‖ E ‖ S ‖ SHA-256(payload))
//
// The signature binds the sender to this recipient, this ephemeral key (so to this
// envelope) and this payload; it cannot be moved into another envelope or re-attributed
// to another X25519 key. Its cost: the recipient holds a transferable proof that the
// sender sent the payload to it (no deniability towards the recipient), which a
// static-DH MAC would avoid; we accept it for simplicity and because a relay never sees
// it.
//
// # Padding
//
// The inner plaintext is padded with zeros to the next bucket: powers of two from 256
// bytes up to 64 KiB, then multiples of 64 KiB, at most 4 MiB. Open refuses a length or
// padding Seal would not have written. Envelopes whose payloads fall in one bucket have
// equal lengths (Size computes it).
//
// # Shared envelopes
//
// One payload for many recipients (shared.go): SealBody encrypts it once under a random
// key K; HeaderFrom seals K and SHA-256(body) to each recipient in an ordinary envelope;
// a relay stores the body once and hands each recipient JoinShared(header, body), which
// OpenSharedFor opens. The sender's signature covers the body's hash, so the sender
// authenticates the exact body to each recipient.
package sealed
