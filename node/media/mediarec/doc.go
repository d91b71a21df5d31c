// Package mediarec holds node/media's records in the node's store, and seals, at rest,
// those of media only disappearing messages use under the key of their expiry's bucket
// (node/shredkeys), so that once the key is destroyed no copy Badger still holds of a
// media's name, type or file key (which opens its chunks) can be read.
//
// # Records
//
// JSON with a version field "v" (now 1), sealed by node/store like every record:
//
//	media/f/<file id hex>             File: key, size, plaintext sha256, chunk hashes, state, reason, local
//	media/m/<media id>                Media: file id, name, mime, width, height, duration_ms, thumbnail, parent, created
//	media/h/<plaintext sha256 hex>    file id of the local file with that content
//	media/u/<upload id>               Upload: a resumable upload session
//	media/t/<upload id>               the upload's bytes after its last sealed chunk (≤ one chunk)
//	media/r/<media id>/<message id>   a message refers to the media; value: its timer (below)
//	media/fm/<file id hex>/<media id> the media ids on a file
//
// # Sealed at rest
//
// A reference's value says the referring message's timer: empty for none (and for every
// reference older than timers), "p" for a disappearing message whose timer has not
// started (received, unread), "e" followed by the decimal Unix ms of its expiry.
//
// A media record (and its thumbnail's) must stay readable as long as the longest of its
// messages: plain (the store's own sealing only) once a message without a timer uses it;
// else sealed under the Pending bucket of now while one is unread, or under the Expiry
// bucket of the latest expiry. A file record is sealed for the longest of its media ids.
// Media no message uses yet (a fresh upload, a manifest just received) is Pending. An
// unfinished upload's record and tail (they hold the key, the name and plaintext bytes)
// are Pending too (Upload.SealedTail); a completed upload keeps no key or name and is
// plain. A sealed value is node/shredkeys content (first byte 0x01) with the store key as
// associated data, so it is told from JSON ('{') by its first byte; a tail is told by its
// upload's SealedTail. A record whose key is destroyed reads as not found, and GC removes it.
// Each rewrite releases the value it replaces from its bucket's count.
package mediarec
