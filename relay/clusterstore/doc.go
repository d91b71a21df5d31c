// Package clusterstore holds a relay's state in NATS JetStream, so several `petrel relay`
// processes act as one relay (docs/OPERATIONS.md, "Relay clusters"). It implements the
// same operations as relay/relaystore (relayserver.Store) with the same errors, over an
// existing distributed engine rather than replication of our own: the NATS server runs
// embedded in each relay process (each one a JetStream cluster node, routes between them),
// or the relay connects to an external NATS cluster by URL.
//
// # Streams and buckets (names start with Config.Prefix, default "petrel")
//
//	stream PETREL_MAIL   subject petrel.mail.MAILBOX (hex)   one message per deposit:
//	                     deposited at (8, Unix ms) ‖ expires at (8) ‖ envelope
//	                     | deposited at (8) ‖ expires at (8) ‖ 0x00 ‖ body seq (8) ‖ body size (4) ‖ header
//	                     (the Badger store's mail record; the mail id is the stream sequence)
//	stream PETREL_BODY   subject petrel.body                  a multi deposit's body, once
//	stream PETREL_EXPIRY subject petrel.expiry.MINUTE         mail that expires before its TTL:
//	                     expires at (8, Unix ms) ‖ mail stream sequence (8) (expiry.go)
//	bucket petrel_reg      MAILBOX → 0x01 ‖ registered at (8) ‖ public identity (129)
//	bucket petrel_usage    MAILBOX → messages (8) ‖ envelope bytes charged (8)
//	bucket petrel_prekeys  h.MAILBOX → signed prekey ‖ last-resort PQ prekey;
//	                       o.MAILBOX.ID, q.MAILBOX.ID → one-time prekeys
//	bucket petrel_refs     BODYSEQ (16 hex) → references left (8)
//	subject petrel.notice.MAILBOX (core NATS, not stored) → messages waiting (8)
//	object store petrel_blobdata  BLOBID (hex) → a blob's bytes (blob.go: the blob store; written
//	                       and checked by blobobject.go, not the client's ObjectStore.Put)
//	bucket petrel_blobs    BLOBID → 0x01 ‖ size (4) ‖ stored at (8) ‖ expires at (8) ‖ uploader (16)
//	bucket petrel_blobuse  UPLOADER → blobs (8) ‖ bytes (8) charged
//	bucket petrel_addrs    SERVERNAME (hex) → JSON list of the process's multiaddrs (addrs.go)
//
// Every stream and bucket has Config.Replicas replicas (default 3) on file storage. A
// deposit is answered only after JetStream's publish acknowledgement, which the stream
// leader sends once a quorum of replicas has the message; so killing any one process of
// three loses no acknowledged deposit. Deposits are published asynchronously and their
// acknowledgements awaited in order, so one stream's pipelined deposits share the Raft
// round trips. The embedded server encrypts its files (ChaCha20-Poly1305, key in the
// relay's data directory); what it stores is what the Badger store holds: sealed
// envelopes, mailbox ids, public identities and prekeys, counters.
//
// # How precise the limits are across processes
//
//   - Messages per mailbox: exact. The mail stream's per-subject limit
//     (MaxMsgsPerSubject with DiscardNewPerSubject) is enforced by the stream leader.
//   - Bytes per mailbox: each process checks a deposit against the usage bucket (which it
//     watches), its own acknowledged deposits not yet written there (written by
//     compare-and-set every 50 ms) and its own deposits in flight. Exact within one
//     process; across N processes a mailbox may overshoot by what the others accepted in
//     the last flush interval, at most N-1 processes' in-flight deposits.
//   - One-time prekeys: each is handed out once cluster-wide (deleted by compare-and-set
//     on its revision before it is returned).
//   - Rates (token buckets per peer, mailbox, bundle requester, registration): per
//     process, so a peer using N processes at once gets up to N times the configured rate.
//
// # Mail waiting
//
// After writing a mailbox's usage, the depositing process publishes its new count on
// petrel.notice.MAILBOX; every process subscribes to all notices and passes them to its
// watch streams (OnDeposit), so an owner watching at any process hears of mail deposited
// at any other.
//
// # Expiry
//
// PurgeExpired first deletes the mail the expiry index lists for every minute that has
// passed (deposits with an expiry of their own, which may expire before older mail), then
// walks the mail stream from its first message to the first one alive and deletes the
// expired ones; any process may run it (a deletion is counted, and charged
// back, only by the process whose delete succeeded). Bodies expire by the body stream's
// MaxAge (TTL + 1 h) and their references by the bucket's TTL.
package clusterstore
