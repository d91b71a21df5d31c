// Package messenger is the messaging façade of a node: it owns the one "persist first"
// transaction of each operation (a send, an edit, a read mark, a new contact) and wires the
// packages that hold the parts, each given what it needs of the others by a func struct or
// a small interface filled in here: the address book and invite links (node/contacts), who
// becomes a contact (node/acquaint), reaching a contact's node (node/reach), the prekeys,
// sessions and delivery counters (node/sessions), the history (node/history), the outbox
// and its delivery workers (node/outbox; outbox.go), the receiving side (node/inbox, whose
// batches dispatch each content kind to a handler registered in inbound.go; mailbox mail
// through node/mailintake), attachments (node/attachments), groups (node/groups; group.go),
// presence (node/presence, its Book from node/presencebook) and disappearing messages
// (node/expiry, node/shredkeys: Config.Shred seals their content in the history and the
// outbox; expiry.go). It reports every change to the event log; node/localapi reaches it
// through the node.
//
// Persist first, deliver second: a message is acknowledged to the UI only once it is in the
// store together with its outbox entry. An outbox entry is encrypted once, in the same
// transaction that saves the advanced ratchet (Send's own when a session exists and the
// outbox's older entries are all encrypted, else the outbox worker's, in queue order so
// that ratchet order is queue order), and the same ciphertext is resent until the
// receiving node acknowledges it; the receiver stores what it decrypted, its advanced
// ratchet and the envelope id in one transaction before it acknowledges, so a retry after a
// lost acknowledgement is recognised and never shown twice.
//
// Store keys (values are JSON or crypto wire forms, sealed by node/store):
//
//	ct/, cu/, cp/                  the address book: node/contacts
//	ss/, sc/                       ratchet sessions and delivery counters: node/sessions
//	cv/, ms/, mz/, mo/, mc/, dx/   conversations and messages: node/history, node/expiry
//	shredkeys/, shredkeys:window   bucket key records: node/shredkeys
//	format                         store format version (docs/PROTOCOL.md "Store format version")
//	pk                             prekey store (crypto/prekey), pki issued one-time ids
//	hlc                            last hybrid logical clock timestamp issued
//	settings                       the user's settings: node/settings
//	gr/ gm/ gn/ go/ gk/ gx/ gq/    groups: node/groups owns these and gw/ gh/ gt/ gf/ gs/ gd/ gdn
//
// Presence and typing live in node/presence, groups in node/groups (group.go holds the
// façade calls and what groups asks of this package); each lists its keys, and
// docs/PROTOCOL.md describes both.
package messenger
