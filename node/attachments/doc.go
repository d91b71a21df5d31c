// Package attachments carries media files (node/media) in messages: a text's attachments
// are the files' manifests, checked and wired in at sending (Resolve, Sent) and taken in at
// receiving (Received: a hostile manifest is dropped, nothing of it stored); a received
// file downloads by itself up to AutoDownloadMax, a larger one when a UI first asks for it
// (Fetch); a sent file's chunks are left at the home relays' blob stores, padded to a
// relay size bucket, once per message (once for a whole group); a download's progress and
// end change the messages that refer to the file and are reported as message_update
// events, at most one per 250 ms or per tenth of the file. The media protocol serves a
// file only to the proven peer of an unblocked contact who shares a conversation holding
// it (Authorize).
//
// It stands on the façade floor: it ties a feature (node/media) to the messages of
// node/history, the contacts and the groups. The messenger (node/messenger) creates the
// Service and gives it what it needs of itself in Config (SaveMessage); Service.Run, owned
// by the messenger's Run, serves the protocol and runs the durable upload and download
// queues, resuming after a restart what it cut.
//
// Store keys (values JSON with "v": 1, sealed by node/store):
//
//	mq/u/<message id>   media of a sent message still to leave at the home relays
//	mq/d/<media id>     a received file to download: its messages, the sender's peer and
//	                    relays, the padded chunks' blob ids, whether it downloads by itself
//
// The media store's own keys (media/…) are node/media's.
package attachments
