// Package senderkey implements Sender Keys for group messages, after Signal's group
// messaging design: each member of a group holds one sending chain (a SenderState) and,
// for every other member, one ReceiverState. A message is encrypted once for the whole
// group and signed by the sender, so a group message costs one AEAD and one signature
// whatever the group's size.
//
// The package owns the chain KDF, the group message and distribution message formats,
// and the serialized sender and receiver states. It does no networking and no storage:
// the node sends distribution messages over pairwise ratchet sessions and persists the
// states (encrypted) itself.
//
// # Keys
//
// A chain is a 32-byte chain key ck, an iteration counter, a 16-byte distribution id
// (random, or with NewSenderBound bound to its owner: SHA-256("petrel_v1_skid\x00" ‖
// owner ‖ signing public key)[:16], checked with Distribution.BoundTo) and an Ed25519
// signing key pair. Each message advances the chain (DR §5.2):
//
//	mk          = HMAC-SHA-256(ck, 0x01)
//	ck'         = HMAC-SHA-256(ck, 0x02)
//	key ‖ nonce = HKDF-SHA-256(ikm = mk, salt = 0^32, info = "petrel_v1_SenderKey", L = 32 + 12)
//
// # Group message
//
//	offset  size  field
//	0       1     version 0x01
//	1       1     suite 0x01
//	2       16    distribution id
//	18      4     iteration, big-endian uint32 (0xFFFFFFFF is never used)
//	22      n+16  ChaCha20-Poly1305(key, nonce, plaintext, ad = bytes 0..21)
//	38+n    64    Ed25519 signature over "petrel_v1_sig_group\x00" ‖ bytes 0..37+n
//
// # Distribution message (86 bytes)
//
//	version 0x01 ‖ suite 0x01 ‖ distribution id (16) ‖ iteration (4) ‖ chain key (32) ‖
//	Ed25519 signing public key (32)
//
// It is not signed here: it is only ever carried inside an authenticated pairwise
// session, where the node signs it with the sender's identity (node/wire SignGroupKey).
//
// # Receiving
//
// ReceiverState.Decrypt verifies the signature before anything else, then refuses an
// iteration already used (ErrDuplicate) or more than MaxSkip (1000) ahead (ErrTooFarAhead)
// before doing any KDF work. Keys of skipped iterations are stored for late messages, at
// most MaxSkippedKeys (2000) per chain, oldest evicted, and each is deleted when used, so
// every message decrypts exactly once. Any error leaves the state byte-for-byte
// unchanged.
//
// # Rotation
//
// On any membership change each remaining member creates a new SenderState (new chain
// key, new signing key, new distribution id) and distributes it to the remaining members
// only; a removed member holds the old chain, which no one sends on again. A
// ReceiverState keeps the previous chain next to the new one (MaxChains = 2) so that
// messages already in flight at the rotation still decrypt; the node drops the whole
// ReceiverState of a member who left.
//
// # Forward secrecy
//
// Chain and message keys are overwritten as the chain advances, so a state captured
// later cannot decrypt earlier messages (other than those whose keys are still stored as
// skipped). A distribution message lets its holder decrypt from its iteration on only.
//
// # Serialized state
//
//	sender:   0x01 ‖ 'S' ‖ id (16) ‖ iteration (4) ‖ chain key (32) ‖ Ed25519 seed (32)
//	receiver: 0x01 ‖ 'R' ‖ chain count (1) ‖ chains, newest first, each
//	          id (16) ‖ signing key (32) ‖ iteration (4) ‖ chain key (32) ‖
//	          skipped count (2) ‖ skipped count × (iteration (4) ‖ message key (32))
package senderkey
