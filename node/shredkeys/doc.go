// Package shredkeys holds the bucket keys that make expired content unrecoverable from
// the data directory (crypto-shredding). Deleting a record from the store is not enough:
// Badger keeps deleted values in its value log and tables until compaction, still
// sealed under the data key the passphrase unlocks. So content that must disappear
// (disappearing messages) is sealed again under a bucket key, bucket keys live outside
// Badger in a fixed-slot key file, and destroying a key overwrites its slot in place:
// whatever copies of the content Badger still holds can no longer be opened by anyone,
// with the passphrase and every file of the directory.
//
// # Buckets
//
// A bucket is a kind and a window (Options.Window, default one hour):
//
//   - Expiry: content expiring within the window. The key is destroyed once the window
//     has ended, whatever is still sealed under it (all of it has expired by then).
//   - Pending: content whose timer has not started (received, not read yet), by the
//     window it arrived in. When it is read, Reseal moves it under the Expiry bucket of
//     its expiry. The key is destroyed when nothing sealed under it remains and its
//     window and one more have ended (the grace keeps a bucket just handed out by
//     PendingBucket alive until it is used).
//
// Each bucket has a record in the store (key "shredkeys/" ‖ bucket id → 0x01 ‖ slot (4) ‖
// window end (8, Unix ms) ‖ items (8)) with its slot, its window end and how many items
// are sealed under it (Seal and Reseal count up, Release and Reseal down, in the caller's
// transaction, so counts and content commit together). "shredkeys:window" holds the
// window length (8, ms), fixed at the first Open: buckets are found by window start.
//
// # Key file (DIR/shredkeys, 0600, version 1)
//
//	off  len  field
//	  0    8  magic "PTRLSHRD"
//	  8    1  version = 0x01
//	  9  82·n slots; slot i at 9 + 82·i:
//	          nonce (24, random) ‖ XChaCha20-Poly1305(slot key, nonce,
//	            0x01 ‖ bucket id (9) ‖ bucket key (32),
//	            AD = "petrel_v1_shredkeys_slot" ‖ i (4, big-endian))
//
//	slot key  = HKDF-SHA-256(data key, salt = none, info = "petrel_v1_subkey_shredkeys_slot")
//	bucket id = kind (1: 0x01 expiry, 0x02 pending) ‖ window start (8, Unix ms, big-endian)
//
// A free or destroyed slot is 82 random bytes, indistinguishable from a live one without
// the slot key. Creating a key writes its slot (fsync) before its record commits;
// destroying one deletes its record (durable commit) and then overwrites the slot with
// random bytes in place (WriteAt at the same offset, fsync; no rename, no copy, so on an
// ordinary filesystem the old bytes are not left in a freed block). Open reconciles: a
// slot holding a key that no record names is overwritten (a crash in either sequence),
// a record whose slot does not authenticate is damaged (Damaged; ErrKeyDamaged for its
// content; no other key is affected and its slot is never reused while the record
// exists), and due keys are destroyed, so a destruction interrupted by a crash completes
// at the next start. The file grows by whole slots and never shrinks; slots are reused.
//
// # Sealed content
//
//	0x01 ‖ bucket id (9) ‖ nonce (24, random) ‖ XChaCha20-Poly1305(bucket key, nonce,
//	    plaintext, AD = "petrel_v1_shredkeys_content" ‖ bucket id ‖ caller's ad)
//
// 50 bytes of overhead. The caller stores it like any value (the store seals it once
// more under the record key); ad should be the store key it is written under.
//
// # What it guarantees, and what not
//
// After a bucket's key is destroyed, no file in the data directory, opened with the
// passphrase and the data key, holds the key or anything that decrypts the content
// sealed under it (TestDestroyedContentLeavesNoTrace). It does not reach copies outside
// the filesystem's current blocks: backups and snapshots, copy-on-write filesystems
// (btrfs, ZFS, APFS snapshots), an SSD's remapped and spare blocks, swap, and memory
// (docs/OPERATIONS.md, "Disappearing messages").
package shredkeys
