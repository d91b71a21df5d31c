// Package relaystore holds a relay's durable state in Badger: mailbox registrations, the
// sealed envelopes waiting in each mailbox, and the prekeys owners uploaded. Envelopes are
// sealed before they reach the relay, so the store is not encrypted at rest; nothing in it
// is plaintext or names a sender.
//
// Every write goes through one writer goroutine that group-commits (internal/groupcommit,
// the node store's writer, here not pipelined): it takes every waiting write, runs them
// one after another against one Badger transaction and commits them with one fsync
// (SyncWrites). A write returns only once durable, so a deposit the relay
// acknowledged survives SIGKILL and power loss. Quota checks run inside the write, so they
// are exact under concurrency.
//
// # Keys (format version 2, stored under "v"; a version-1 store is upgraded in place)
//
//	'r' ‖ mailbox (16)             → 0x01 ‖ registered at (8, Unix ms) ‖ public identity (129)
//	'c' ‖ mailbox                  → next mail id (8) ‖ messages (8) ‖ envelope bytes charged (8)
//	'm' ‖ mailbox ‖ id (8)         → deposited at (8, Unix ms) ‖ expires at (8) ‖ envelope
//	                               | deposited at (8) ‖ expires at (8) ‖ 0x00 ‖ body id (8) ‖ body size (4) ‖ header
//	'b' ‖ body id (8)              → shared body (stored once per multi deposit)
//	'n' ‖ body id (8)              → references (8) ‖ expires at (8) ‖ body size (8)
//	'g'                            → next body id (8)
//	'e' ‖ expires at (8) ‖ mailbox ‖ id (8) → (empty): mail that expires before its TTL
//	'k' ‖ mailbox                  → signed prekey (108) ‖ last-resort PQ prekey (1262)
//	'o' ‖ mailbox ‖ prekey id (4)  → X25519 one-time prekey (36)
//	'q' ‖ mailbox ‖ prekey id (4)  → PQ one-time prekey (1262)
//	'p' ‖ mailbox ‖ push id (16)   → 0x01 ‖ created (8) ‖ dead (1) ‖ reason length (1) ‖ reason ‖ sealed registration
//	'd' ‖ mailbox                  → 0x01 ‖ push do-not-disturb until (8, Unix ms)
//	'B' ‖ blob id (32)             → blob bytes (blob.go: the blob store)
//	'I' ‖ blob id (32)             → 0x01 ‖ size (4) ‖ stored at (8) ‖ expires at (8) ‖ uploader (16)
//	'U' ‖ uploader mailbox (16)    → blobs (8) ‖ bytes (8) charged
//
// Integers are big-endian, so mail ids (from 1, increasing per mailbox) iterate in deposit
// order. With one TTL, a mailbox's mail expires in deposit order, so PurgeExpired walks
// each mailbox from its oldest message to the first one alive, and a deposit costs one
// mail record plus its mailbox's counters (written once per group commit). Mail deposited
// with an expiry of its own (DepositUntil, MultiDepositUntil) earlier than the TTL has
// that expiry in its record and an 'e' entry, in expiry order, which the purge walks up
// to now; deleting the mail (ack or purge) deletes the entry. A relay binary from before
// the index ignores it: such mail is still never fetched after its expiry and is purged
// with its TTL.
//
// Push registrations (push.go) are stored as the owner sent them, sealed to the push
// bridge's key: the store holds no endpoint or device token in the clear.
//
// # Multi deposits
//
// A multi deposit stores its body once ('b') with a reference count ('n') and, in each
// mailbox that accepts it, a mail record holding that mailbox's header and the body id.
// Quotas apply per mailbox, each charged the size of what its owner fetches
// (sealed.SharedSize: header and body), so a mailbox's limits mean the same whichever way
// its mail came. Fetch returns sealed.JoinShared(header, body); acknowledging or purging a
// record drops a reference, and the last one deletes the body. The purge also deletes
// bodies whose TTL ended (their records expired with them).
package relaystore
