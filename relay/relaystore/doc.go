// Package relaystore holds a relay's durable state in Badger: mailbox registrations, the
// sealed envelopes waiting in each mailbox, and the prekeys owners uploaded. Envelopes are
// sealed before they reach the relay, so the store is not encrypted at rest; nothing in it
// is plaintext or names a sender.
//
// Every write goes through one writer goroutine that group-commits: it takes every waiting
// write, runs them one after another against one Badger transaction and commits them with
// one fsync (SyncWrites). A write returns only once durable, so a deposit the relay
// acknowledged survives SIGKILL and power loss. Quota checks run inside the write, so they
// are exact under concurrency.
//
// # Keys (format version 1, stored under "v")
//
//	'r' ‖ mailbox (16)             → 0x01 ‖ registered at (8, Unix ms) ‖ public identity (129)
//	'c' ‖ mailbox                  → next mail id (8) ‖ messages (8) ‖ envelope bytes (8)
//	'm' ‖ mailbox ‖ id (8)         → deposited at (8, Unix ms) ‖ expires at (8) ‖ envelope
//	'k' ‖ mailbox                  → signed prekey (108) ‖ last-resort PQ prekey (1262)
//	'o' ‖ mailbox ‖ prekey id (4)  → X25519 one-time prekey (36)
//	'q' ‖ mailbox ‖ prekey id (4)  → PQ one-time prekey (1262)
//
// Integers are big-endian, so mail ids (from 1, increasing per mailbox) iterate in deposit
// order. There is no expiry index: with one TTL, a mailbox's mail expires in deposit order,
// so PurgeExpired walks each mailbox from its oldest message to the first one alive, and a
// deposit costs one mail record plus its mailbox's counters (written once per group commit).
package relaystore
