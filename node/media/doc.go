// Package media owns a node's attachments: it stores files encrypted in chunks, runs
// resumable uploads, strips image metadata and makes thumbnails, reads files back for
// Range requests, serves chunk ciphertexts to authorised peers over /petrel/media/1.0.0,
// and downloads received files from peers or a relay blob store. Nothing it writes to disk
// is plaintext. docs/PROTOCOL.md, "Media", is the same format for other implementations.
//
// # Chunks
//
// A file is cut into chunks of ChunkSize plaintext bytes (1 MiB − 28: a sealed chunk is
// exactly SealedChunkSize, 1 MiB, one relay size bucket); the last chunk holds the rest
// (an empty file is one empty chunk). Each file has a random 16-byte file id and a random
// 32-byte key, used for nothing else. Chunk i is
//
//	sealed_i = nonce (12, random) ‖ AES-256-GCM(key, nonce, plaintext_i, AD_i)
//	AD_i     = "petrel_v1_media_chunk\x00" ‖ file id (16) ‖ i (8, big-endian) ‖ last (1: 0x01 for the last chunk, else 0x00)
//
// and is named by hash_i = SHA-256(sealed_i). A chunk moved to another index or file, or a
// file cut short (its new last chunk was sealed as not-last) fails authentication. The
// nonce is random rather than the counter i because a resumed upload can seal index i
// twice with different bytes (a client that resends otherwise); a file has at most a few
// hundred seals, far inside GCM's random-nonce bound. AES-256-GCM rather than
// ChaCha20-Poly1305: about twice as fast for bulk data on our machines.
//
// # At rest
//
// Chunk ciphertexts live in DIR/chunks/<hex hash_i> (0700 directory; node/media/blobdir),
// one file each, written to a temporary file, fsynced and renamed; the directory is
// fsynced before any record names the chunk. The choice over Badger records was measured (BENCHMARKS.md,
// "Media"): durable writes are faster (Badger syncs its value log per commit; a blob file
// needs one fsync, the directory one per file), deletion frees space at once (Badger only
// after value-log GC), and chunks do not churn Badger's memtables and caches.
//
// Keys, chunk hashes and names are records of the node's encrypted store (node/store),
// JSON with a version field "v" (now 1), kept by node/media/mediarec:
//
//	media/f/<file id hex>            file: key, size, plaintext sha256, chunk hashes, state (available|downloading|failed), reason, local
//	media/m/<media id>               media: file id, name, mime, width, height, duration_ms, thumbnail media id, parent (for a thumbnail), created
//	media/h/<plaintext sha256 hex>   file id of the local file with that content (identical uploads are stored once)
//	media/u/<upload id>              resumable upload: file id, key, length, name, mime, sealed bytes, chunk hashes, SHA-256 state, media id once complete
//	media/t/<upload id>              the upload's bytes after its last sealed chunk (≤ one chunk; sealed by the store like every record)
//	media/r/<media id>/<message id>  a message refers to the media (Ref, Unref); the value is the message's timer (RefUntil)
//	media/fm/<file id hex>/<media id> the media ids on a file
//
// With Options.Sealer (the node's node/shredkeys keyring), the records of media only
// disappearing messages use are sealed once more under the bucket key of the latest of
// their expiries (under the Pending bucket while a message is unread, and while no
// message uses the media yet: a fresh upload, an unfinished upload's record and tail, a
// received manifest), and plain once a message without a timer uses it: mediarec's doc.
// At the expiry of the last message that uses it, Expire deletes the media at once, its
// records and its chunk files.
//
// Several media ids can share a file (the same bytes uploaded twice, with other names).
// GC removes a media id no message refers to once it is older than Options.Grace (its
// thumbnail with it), a file once no media id is on it (records first, then chunks),
// unfinished uploads after Options.UploadTTL, and chunk files no record names (a crash
// between writing a chunk and recording it) older than the grace period.
//
// # Uploads
//
// Create, Offset, Write, Complete and Cancel are the core of a tus 1.0 server. Write
// streams: each full chunk is sealed, stored and recorded as the next byte arrives, and
// when the request body ends or breaks, the bytes after the last chunk are saved as the
// tail record, so Offset covers every byte Write read. A process killed inside Write keeps
// everything up to its last recorded chunk. Memory is one chunk of plaintext and one of
// ciphertext per upload. Put is the one-shot form.
//
// # Images and durations
//
// Images are stripped of metadata (and a turned JPEG made upright) before they are
// recorded, and get a thumbnail; audio and video get a duration where it is cheap to
// know. What is removed and how is node/media/filemeta's doc.
//
// # Transfer
//
// /petrel/media/1.0.0 (node/wire, media.go): the receiver opens a stream and writes chunk
// requests (file id, index), one at a time; the sender answers each with a status and,
// when ok, the chunk ciphertext. The sender asks its Authorizer once per file per stream,
// with the peer's id (proven by the connection) and the messages that refer to the file; an
// unknown file is answered "forbidden" unless allowed, exactly like a forbidden one. The
// handler joins the "petrel.media" resource-manager service, reserves a chunk's memory,
// and bounds each request by a 30-second deadline.
//
// A receiver Adds the Manifest a message carried (a size over Options.MaxSize or a
// manifest that is not self-consistent is refused before anything is stored or fetched),
// then Downloads: Options.Parallel workers fetch the missing chunks, trying each peer and
// then the BlobSource; a chunk is stored only if its length and SHA-256 match the manifest
// and it authenticates. When a source answers but none delivers a chunk intact (refused,
// not found, wrong bytes), the file is failed with the reasons; when no source can be
// reached at all it stays downloading (ErrUnreachable), for a later retry. Chunks already stored are skipped, so a download resumes after a restart. The
// whole plaintext's SHA-256 is checked before the file is available.
package media
