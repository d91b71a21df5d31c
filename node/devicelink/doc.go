// Package devicelink links a new device to an account and hands it the account's history:
// the single-use link (petrel-device:…), the /petrel/devicelink/1.0.0 protocol in which the
// new device and the account's primary device prove the link's one-time secret to each
// other, and the history transfer that follows on the same authenticated stream, chunked
// and resumable. It adds nothing to the account itself: the primary's Devices (the
// messenger's AddDevice) signs and publishes the list.
//
// # Link
//
//	petrel-device: ‖ base64url (unpadded, strict) of
//	0x01 ‖ u8 len ‖ primary peer id ‖ u8 n ‖ (u8 len ‖ address)ⁿ ‖ u8 m ‖ (u8 len ‖ relay)ᵐ ‖
//	secret (32, random) ‖ expires (8, Unix seconds, big-endian)
//
// At most 8 addresses and 8 relays, each a canonical multiaddr (addresses without /p2p/,
// relays with it), the whole link at most 2,048 bytes. A link lives 10 minutes (LinkTTL)
// and works once. The primary keeps no secret: it stores the link's id
// (SHA-256("petrel_v1_devicelink_id\x00" ‖ secret), 16 bytes, hex) and its proof key
// K = SHA-256("petrel_v1_devicelink_key\x00" ‖ secret), sealed by the store.
//
// # Handshake
//
//	new device                                              primary (peer id from the link)
//	   │── libp2p dial, Noise XX: proves both peer ids ───────────▶│  (a relay circuit sees ciphertext)
//	   │── hello {link id, device key, name, addrs, relays,        │
//	   │          proof = HMAC-SHA256(K, "…_new\x00" ‖ P ‖ D ‖ key),│  P, D: the two peer ids, each
//	   │          sig = Ed25519(device key, "petrel_v1_sig_        │  u16-length-prefixed (D as Noise proved it)
//	   │                devicelink_hello\x00" ‖ P ‖ D ‖ key ‖ id)}▶│
//	   │◀── welcome {HMAC-SHA256(K, "…_primary\x00" ‖ P ‖ D ‖ key), │  link spent first, then AddDevice
//	   │             account key, signed device list, resume cred} │
//	   │   or refused (one byte, no reason)                        │
//
// A hello is refused when its link is unknown, spent, expired, or has seen MaxAttempts
// wrong proofs (each wrong proof counts), when its signature is not by the device key it
// names (someone with the link cannot list a key it does not hold, a contact's say), and when
// its proof does not match — which is
// what a hello replayed by another peer (a relay in the middle) gets, since D is the peer
// id Noise proved, not one the hello claims. The new device accepts the welcome only if
// the primary's proof matches, the list verifies under the account key it came with and
// lists this device's key with this device's peer id, active.
//
// # History transfer
//
// After the welcome (or after a resume: {id, HMAC-SHA256(R', "…_resume\x00" ‖ P ‖ D)}
// where R' = SHA-256("petrel_v1_devicelink_resume_key\x00" ‖ R) for the 32-byte resume
// credential R issued in the welcome, valid 24 hours, only from the device's peer id) the
// device sends a pull naming its cursor (the last key it holds, or nothing) and the
// primary streams chunks of records in key order after it:
//
//	chunk = 0x01 (record version) ‖ done (0|1) ‖ uvarint n ‖ (uvarint len ‖ key ‖ uvarint len ‖ value)ⁿ
//
// about 256 KiB each (24 KiB over a limited connection: a relay circuit, which closes after
// 128 KiB by default, so each new circuit carries at least one chunk; a single record larger
// than a circuit carries cannot pass a relay), at most 4,096 records, minimal uvarints. The device writes each chunk
// and its advanced cursor in one store transaction, so a cut stream resumes after the last
// chunk written; it refuses a key outside the history (Transferred) or not after its
// cursor, so a primary cannot write the device's keys or make it rewind. After the last
// chunk it sends done and the primary forgets the credential. The records are the
// history's: conversations, messages and their order (the sealed content of disappearing
// messages, mz/, opened by the primary and sealed again by the new device under its own
// bucket keys), contacts, groups with their state
// and the members' receiving chains, attachments (records, file keys, and their chunks as
// "media/c/<media id>/<index>/<piece>" records of at most 16 KiB each, so that they pass
// a relay circuit too: pieces.go; the device writes each whole chunk to node/media's blob
// directory rather than the store), settings and the
// profile name; never the identity or
// peer keys, the API token, sessions, prekeys, our group sending chains, outboxes or
// inboxes. The stream is Noise-encrypted end to end between the two peer ids.
//
// Frames: the internal/frame codec (uvarint length ‖ body, at most 2 MiB); the body's first
// byte is its type (frames.go). Bounds: a hello or resume of at most 16 KiB, two streams
// served at once (more are reset), 30 s for the handshake, 2 minutes per frame after.
//
// Store keys (values JSON, sealed by node/store):
//
//	dl/l/<link id>    an issued link: proof key, expiry, wrong attempts, spent (primary)
//	dl/r/<resume id>  a resume credential's key, device and peer id, expiry (primary)
//	dl/j              the linked device's transfer state: primary, credential, cursor, done
//	dl/p/<media id>/<index>/<piece>  a piece of a media chunk not yet complete (the
//	                  linked device, during the transfer; raw: the sealed chunk's bytes)
package devicelink
