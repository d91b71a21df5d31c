// Package relaywire owns the bytes of the stream protocols a petrel relay speaks,
// /petrel/mailbox/1.0.0, /petrel/prekeydir/1.0.0, /petrel/push/1.0.0 and
// /petrel/blob/1.0.0, plus the mailbox id and the challenge an owner signs. It is a pure codec: no I/O beyond reading and writing frames.
//
// # Frames
//
// Every message is a frame: uvarint length ‖ body, the body at most MaxFrame bytes (one Mail
// of the largest sealed envelope). The body's first byte is its type. Integers are
// big-endian unless they are uvarints; uvarints must be minimal.
//
//	0x01 Deposit    C→R  mailbox length (1, 1..255) ‖ mailbox ‖ envelope
//	0x02 Result     R→C  code (1) ‖ message (UTF-8, ≤ 256)
//	0x03 Auth       C→R  public identity (129, crypto/identity)
//	0x04 Challenge  R→C  random challenge (32)
//	0x05 Proof      C→R  flags (1; bit 0 = register) ‖ signature (64) ‖ invite code (UTF-8, ≤ 256)
//	0x06 Fetch      C→R  max (uvarint, 1..4096)
//	0x07 Mail       R→C  id (8) ‖ deposited at (8, Unix ms) ‖ envelope
//	0x08 FetchEnd   R→C  more (1: 0 or 1)
//	0x09 Ack        C→R  n (uvarint, 1..4096) ‖ n ids (8 each)
//	0x0a Watch      C→R  (empty)
//	0x0b Notice     R→C  messages waiting (uvarint)
//	0x0c MultiDeposit C→R n (uvarint, 1..500) ‖ n × (mailbox (16) ‖ header length (uvarint, 1..1024) ‖ header) ‖ body
//	0x0d MultiResult  R→C n (uvarint) ‖ n codes (1 each), in the deposit's order
//	0x0e DepositUntil      C→R expires at (8, Unix ms, > 0) ‖ then as Deposit
//	0x0f MultiDepositUntil C→R expires at (8, Unix ms, > 0) ‖ then as MultiDeposit
//	0x10 Upload     C→R  signed prekey (108) ‖ last-resort PQ prekey (1262) ‖
//	                     n (uvarint) ‖ n one-time prekeys (36) ‖ m (uvarint) ‖ m PQ one-time prekeys (1262)
//	0x11 Remaining  R→C  one-time prekeys left (uvarint) ‖ PQ one-time prekeys left (uvarint)
//	0x12 GetBundle  C→R  mailbox id (16)
//	0x13 Bundle     R→C  prekey bundle (crypto/prekey wire form)
//	0x14 Count      C→R  (empty)
//	0x20 BridgeKey      C→R  (empty)
//	0x21 BridgeKeyIs    R→C  version (1, 0x01) ‖ bridge public identity (129, crypto/identity)
//	0x22 PushRegister   C→R  registration id (16) ‖ sealed registration (1..8192)
//	0x23 PushUnregister C→R  registration id (16)
//	0x24 PushList       C→R  (empty)
//	0x25 PushStates     R→C  n (uvarint, ≤ 64) ‖ n × (id (16) ‖ dead (1) ‖ reason length (1) ‖ reason)
//	0x26 PushDND        C→R  do-not-disturb until (8, Unix ms; 0 = off)
//	0x30 BlobPut    C→R  blob id (32, SHA-256 of the bytes) ‖ size (4; a padding bucket)
//	0x31 BlobData   both bytes (1..65536)
//	0x32 BlobGet    C→R  blob id (32) ‖ offset (4) ‖ length (4; 1..4 MiB)
//	0x33 BlobHas    C→R  blob id (32)
//	0x34 BlobStat   R→C  present (1) ‖ size (4) ‖ expires at (8, Unix ms); absent: all zero
//
// # Mailbox protocol
//
// A stream starts either with deposits or with authentication.
//
//	depositor                      relay
//	  Deposit ───────────────────▶   envelope header names the same mailbox? registered?
//	                                 quotas, rates; durable (fsync) before answering
//	  ◀─────────────────── Result    (repeat: deposits may be pipelined; results come in order)
//
//	depositor                      relay
//	  MultiDeposit ──────────────▶   each header names its mailbox? body a shared body?
//	                                 per mailbox: registered, quotas, rate; body stored once,
//	                                 one entry per accepted mailbox; durable before answering
//	  ◀────────────── MultiResult    one code per recipient (one full mailbox refuses only itself)
//	  ◀─────────────────── Result    instead, when the whole deposit is refused (too many
//	                                 recipients, too large, malformed, depositor rate, unavailable)
//
// A deposit stream may mix Deposit and MultiDeposit frames; answers come in order. A relay
// that predates MultiDeposit answers Result(bad_request) and closes the stream: the client
// falls back to one Deposit per mailbox.
//
// DepositUntil and MultiDepositUntil are the same deposits with an expiry (disappearing
// messages): the relay keeps the mail until the earlier of its expiry and its own mailbox
// TTL, never hands it out from its expiry on (by the relay's clock), and purges it then,
// releasing the mailbox's quota. The expiry is absolute, so a depositor whose clock is off
// moves it by as much. Mail already past its expiry when it arrives is stored and answered
// like any other, and never handed out. Answers are the same as for the plain kinds. A
// relay that predates them answers Result(bad_request) and closes the stream: the client
// may deposit without the expiry there (the recipient's node still drops expired mail). An owner fetches a multi-deposited item like any
// other: its Mail carries sealed.JoinShared(header, body).
//
//	owner                          relay
//	  Auth(identity) ────────────▶
//	  ◀──────────── Challenge(32)    fresh random per stream
//	  Proof(sig, register?, invite) ▶ verify sig; register under policy, or must be registered
//	  ◀─────────────────── Result
//	  Fetch(max) ────────────────▶
//	  ◀──────── Mail … Mail, FetchEnd(more)   oldest first, ids increasing
//	  Ack(ids) ──────────────────▶   deleted durably
//	  ◀─────────────────── Result
//	  …                              Fetch and Ack repeat; or, once:
//	  Watch ─────────────────────▶
//	  ◀──── Notice(waiting) …        now if mail waits, then after each deposit; until reset
//
// The signature is identity.Sign(DomainMailbox, ChallengeMessage(challenge, relay, owner)):
//
//	"petrel_v1_sig_mailbox\x00" ‖ challenge (32) ‖ uvarint len ‖ relay peer id ‖ uvarint len ‖ owner peer id
//
// Peer ids are the binary multihashes of the Noise-authenticated libp2p connection, so a
// proof is good for one challenge, one relay and one owner connection: it cannot be replayed
// on another stream, to another relay, or by another peer.
//
// A mailbox id is the first 16 bytes of SHA-256("petrel_v1_mailbox_id\x00" ‖ public identity).
//
// # Prekey directory protocol
//
//	anyone: GetBundle(mailbox) ▶ ◀ Bundle, or Result(unknown_mailbox | no_prekeys)
//	owner:  Auth ▶ ◀ Challenge, Proof ▶ ◀ Result, then Upload ▶ ◀ Remaining (or Result
//	        refusing it), or Count ▶ ◀ Remaining; repeatable
//
// A bundle hands out one X25519 one-time prekey and one PQ one-time prekey, each exactly
// once; with none left it carries the last-resort PQ key and no X25519 one-time prekey.
//
// # Push protocol
//
// /petrel/push/1.0.0, served only by relays that run a push bridge (a relay without one
// refuses the protocol, which clients report as "no bridge"):
//
//	anyone: BridgeKey ▶ ◀ BridgeKeyIs
//	owner:  Auth ▶ ◀ Challenge, Proof (register flag clear: the mailbox must exist) ▶ ◀ Result,
//	        then any number of:
//	          BridgeKey ▶ ◀ BridgeKeyIs
//	          PushRegister ▶ ◀ Result (ok | push_refused | quota_messages | unavailable)
//	          PushUnregister ▶ ◀ Result
//	          PushDND ▶ ◀ Result
//	          PushList ▶ ◀ PushStates
//
// A sealed registration is a crypto/sealed envelope, from the owner's identity to the
// bridge's public identity, addressed to the owner's own mailbox id, whose payload is an
// encoded PushRegistration:
//
//	version 0x01 (1) ‖ kind (1: 1 webpush, 2 unifiedpush, 3 apns, 4 fcm) ‖
//	address length (2) ‖ address (endpoint URL or device token, ≤ 2048) ‖
//	topic length (1) ‖ topic (APNs bundle id) ‖ p256dh length (1) ‖ p256dh (65) ‖
//	auth length (1) ‖ auth (16)
//
// Web Push and UnifiedPush carry p256dh and auth and no topic; APNs a topic and no keys; FCM
// neither. The bridge refuses (push_refused) a registration not sealed to its key, not
// addressed to the authenticated owner's mailbox, sealed by another identity than the owner,
// of a kind it has no credentials for, or to an endpoint it may not contact.
//
// # Blob protocol
//
// /petrel/blob/1.0.0: content-addressed ciphertext blobs, sizes powers of two from 4 KiB
// to 4 MiB (the uploader pads), kept for the mailbox TTL after their last upload.
//
//	uploader: Auth ▶ ◀ Challenge, Proof (register flag clear: registered) ▶ ◀ Result, then
//	          BlobPut(id, size) ▶ ◀ BlobStat (present: held, renewed; done)
//	                                  | BlobStat (absent): BlobData… (size bytes) ▶ ◀ Result
//	          (ok | blob_mismatch | blob_size | quota_bytes | unavailable); also Get, Has
//	anyone:   BlobGet(id, off, n) ▶ ◀ BlobStat, then (present) BlobData… covering the range
//	          cut at the blob's end; BlobHas(id) ▶ ◀ BlobStat; repeatable
package relaywire
