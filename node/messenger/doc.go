// Package messenger is the 1:1 messaging engine of a node: contacts and invites, PQXDH
// sessions and Double Ratchets, the durable outbox and its delivery workers, the inbound
// stream handler, receipts, ordering, history and the control messages (edits, deletes,
// reactions). It owns the node's message data in the encrypted store and reports every
// change to the event log; node/localapi reaches it through the node.
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
//	cv/, ms/, mo/, mc/             conversations and messages: node/history
//	format                         store format version (docs/PROTOCOL.md "Store format version")
//	pk                             prekey store (crypto/prekey), pki issued one-time ids
//	hlc                            last hybrid logical clock timestamp issued
//	settings                       settings
//	gr/ gm/ gn/ go/ gk/ gx/ gq/    groups: node/groups owns these and gw/ gh/ gt/ gf/ gs/ gd/ gdn
//
// Presence and typing live in node/presence, groups in node/groups (group.go holds the
// façade calls and what groups asks of this package); each lists its keys, and
// docs/PROTOCOL.md describes both.
package messenger
