// Package history is the node's message history: conversations, messages, their order and
// client-id indexes, read marks, and the edit and reaction state that makes edits and
// reactions apply in timestamp order whatever order they arrive in. Conversation and
// Message are the on-disk records, versioned (Version) and mapped to api.Message in one
// place (ToAPI, FromAPI; Item is the working form the façade changes, with LoadItem and
// PutItem), and the search index over them, which follows the event log.
// Every record function works in the caller's store transaction, so one Update spans the
// message, its outbox entry, the ratchet and the events.
//
// Store keys (values JSON unless said, sealed by node/store):
//
//	cv/<conversation id>           conversation record (Conversation, "v": Version)
//	ms/<message id>                message record (Message, Version): binary (codec.go,
//	                               docs/PROTOCOL.md "Message records"; JSON before store
//	                               format 2, still read); a disappearing one without its
//	                               content (Sealed)
//	mz/<message id>                a disappearing message's whole record (binary, or JSON
//	                               when written before format 2), sealed under its
//	                               node/shredkeys bucket key (sealed.go; docs/PROTOCOL.md
//	                               "Disappearing messages at rest")
//	mo/<conversation id>/<order>   → message id (history in order)
//	mc/<conversation id>/<client>  → message id (idempotent sends)
//	dx/<expires at, 16 digits>/<id> → empty (disappearing messages' expiry index)
//	sx/meta, sx/b/<n>, sx/m/<id>   the search index (SearchIndex; binary, docs/PROTOCOL.md
//	                               "Search index"), rebuilt from ms/ when missing
package history
