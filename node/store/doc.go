// Package store is the node's encrypted, durable key-value store: Badger v4 with two layers
// of encryption at rest, a passphrase-derived key hierarchy, and group-committed durable
// writes. Every other node package keeps its state here; nothing is stored in plaintext.
//
// # Directory layout
//
//	DIR/keyfile     the key file (below), 0600, replaced atomically (temp + rename + fsync dir)
//	DIR/generation  the rollback counter (below), 0600, replaced atomically on every open
//	DIR/db/         Badger's files (SSTables, value log, WAL memtables, MANIFEST, KEYREGISTRY)
//
// Other files in DIR (api.json, …) belong to other packages.
//
// # Key hierarchy
//
//	passphrase ──Argon2id(salt, t, m, p)──▶ KEK (32 B)
//	KEK ──XChaCha20-Poly1305 unwrap (AD = key-file header)──▶ DK, the random 32-byte data key
//	DK ──HKDF-SHA-256(salt = none, info = "petrel_v1_store_badger_aes256")──▶ Badger master key
//	DK ──HKDF-SHA-256(salt = none, info = "petrel_v1_store_record")──────────▶ record key
//
// The data key never changes; ChangePassphrase re-wraps it under a new KEK and salt. The KEK
// and intermediate keys are zeroed after use and the data key on Close (Go copies inside
// Badger and the AEAD cannot be reached).
//
// # Key file (version 1, 123 bytes, big-endian)
//
//	off len field
//	  0   8 magic "PTRLSTOR"
//	  8   1 format version = 0x01
//	  9   1 KDF id = 0x01 (Argon2id, RFC 9106)
//	 10   4 Argon2id time (passes)
//	 14   4 Argon2id memory in KiB
//	 18   1 Argon2id threads (lanes)
//	 19  32 salt (random)
//	 51  24 wrap nonce (random)
//	 75  48 XChaCha20-Poly1305(key = KEK, nonce, plaintext = DK, AD = bytes 0..74)
//
// Bytes 0..74 (everything but the wrapped key) are the associated data of the wrap, so an
// edited version, parameter, salt or nonce makes the unwrap fail exactly like a wrong
// passphrase (ErrWrongPassphrase). Parameters below the floor (DefaultKDFParams: t=3,
// m=64 MiB; p ≥ 1) are refused before any derivation with ErrWeakParams, so a key file
// re-created with weaker parameters (even with a correctly re-wrapped key) does not open.
// Parameters above a ceiling (t ≤ 64, m ≤ 4 GiB) and any other malformation are
// ErrCorruptHeader. Open reads only this file until the data key unwraps: a wrong
// passphrase modifies nothing on disk.
//
// # Records
//
// Keys are stored as given (Badger's encryption hides them on disk). Each value is sealed:
//
//	sealed = 0x01 ‖ nonce (24, random) ‖ XChaCha20-Poly1305(record key, nonce, value, AD)
//	AD     = 0x01 ‖ key
//
// 41 bytes of overhead per value. A flipped bit, a truncated value, or a value copied to
// another key fails authentication: ErrTampered.
//
// # Rollback
//
// The record AEAD binds a value to its key but not to a version: an older sealed value (an
// older copy of a record, of db/, or of the whole directory) opens. A generation counter,
// kept twice, catches the cheap case. The database holds it under the reserved key
// "!petrel!generation" (the "!petrel!" namespace is refused to callers and skipped by
// Iterate), sealed as any record; DIR/generation holds the same number as a sealed record
// of key "!petrel!generation-file" (version ‖ nonce ‖ XChaCha20-Poly1305 of the 8-byte
// big-endian counter: 49 bytes). Open reads both: a database below the file is a copy older
// than the directory's last open, refused with ErrRolledBack before anything is written;
// otherwise both become max + 1, the database first (so a crash in between leaves the
// database ahead, which is accepted). A missing file is accepted and written (stores from
// before the counter; an operator accepting an older copy knowingly); a file that does not
// open is ErrTampered. Create removes a generation file left by a deleted store (it belongs
// to another data key). Not detected: a copy of the whole directory (its file rolls back
// with it), a copy of db/ taken since the last open, and single records spliced into
// Badger's files. Those need state outside the directory, which the store does not have
// (docs/OPERATIONS.md, "Store rollback").
//
// # Why two layers
//
// Badger's encryption at rest is AES-256-CTR over its tables and logs, under data keys
// kept in its KEYREGISTRY file (encrypted under the master key, rotated weekly). It hides
// keys and values from someone who reads the disk, but CTR has no integrity: an attacker
// with write access can flip chosen plaintext bits, and nothing stops records being
// swapped or replayed between keys, and Badger's CRCs are not keyed. The AEAD layer adds
// integrity bound to the record's key. Badger's layer remains useful: it hides the keys
// (conversation and contact ids, timestamps) and the tree's structure, which the value
// AEAD does not.
//
// # Writes and durability
//
// Badger runs with SyncWrites: a commit is fsynced before it returns. Update hands its
// function to one writer goroutine (internal/groupcommit, shared with relay/relaystore) that takes every waiting request, runs the functions
// one after another in a single Badger transaction (each function's writes are buffered
// and join the transaction only if it returns nil), and commits them with one fsync (group
// commit). A batch that outgrows one Badger transaction (15% of a memtable) is committed
// in several. OnCommit callbacks run after the fsync, in commit order.
//
// The writer pipelines: while one group's commit syncs (Badger's CommitWith), it already
// runs the next group's functions, in a Badger transaction opened just before that commit
// (so Badger need not wait for it) and reading the syncing group's writes through an
// in-memory layer. The next commit starts only once the previous one has landed, so at
// most one commit is in flight and Views (which open Badger transactions after it) see
// only durable data.
//
// The writer keeps a read cache (at most 4 MiB of values, in memory only): a record an
// Update function read, or that a landed Update wrote, is served decrypted to the next
// Update that reads it, without Badger's lookup or the record AEAD. Only the writer
// goroutine uses it, so it never holds more than every group's Badger transaction sees;
// a failed commit empties it, and Views do not use it.
//
// # Sizing
//
// Defaults are for a small personal node: two 8 MiB memtables, 8 MiB block cache, 4 MiB
// index cache, two compactors, 64 MiB value-log files, values up to 4 KiB kept in the LSM
// tree, no compression (sealed values are random), value-log GC every 10 minutes.
package store
