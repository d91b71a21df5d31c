// Package outbox is a node's durable outbox for pairwise contents: it assigns each content
// its contact's next sequence number, keeps it until the contact's node acknowledges it,
// encrypts it once and resends the same bytes, and runs one delivery worker per contact
// (pipelined over one stream, with backoff, and a deposit at the contact's home relays
// when its node is out of reach).
//
// Persist first, deliver second: Enqueue is a function over the caller's store transaction,
// so a message, its outbox entry, the advanced ratchet and the events are one commit. An
// entry is encrypted once, in the transaction that saves the advanced ratchet (the
// caller's when it holds the session and every older entry is encrypted, else the worker's,
// in queue order, so that ratchet order is queue order). A receiver that cannot decrypt
// what it got makes the worker set the session aside and encrypt everything again under a
// new one, at most MaxSessionResets times per entry.
//
// The package holds no pointer to the node's messenger: what it needs of the address book,
// sessions, the network and message statuses comes through Config (Contacts, Session, Dial,
// Status, Mailbox), filled in by node/messenger.
//
// What the outbox calls a contact is a channel (node/devices): a contact's primary device
// under the contact's id, each other device of a contact or of ours under its own channel
// id, each with its own sequence numbers, worker and mailbox (the device's key and relays).
//
// Store keys (values sealed by node/store):
//
//	ob/<channel id>/<seq>          outbox entry, Entry as JSON (seq: 8 bytes big-endian)
//	sh/<channel id>/<seq>          sent content (wire.Content JSON), kept for resend
//	                               requests (the last SentHistory; seq: 8 bytes big-endian);
//	                               a disappearing one sealed under its node/shredkeys bucket
//	                               key, as are its ob/ entry's content and, once
//	                               encrypted, its ratchet ciphertext (sealed.go)
package outbox
