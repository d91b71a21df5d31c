// Package inbox is the receiving side of the pairwise message protocol: the /petrel/msg
// stream handler (per-frame read deadline, a byte budget for frames read ahead, batches,
// acknowledgements once durable), the intake of sealed mailbox mail (opening envelopes and
// ordering them into per-sender batches), envelope dedup, the decryption of a contact's
// messages under its two sessions and the PQXDH responder of initial messages, the
// sequence-number gaps that become resend requests, and the table that dispatches each
// decrypted content by kind to the handler registered for it.
//
// The bookkeeping of a receiving transaction is a Batch: the contact whose messages it is
// taking, its two sessions and its conversation, newcomers (a message request, or a
// proven peer's identity change), what a decrypted message proves of its peer, the
// addresses a card announces, re-encryption of the outbox under a session the contact
// started (Reseal), resend requests both ways, delivery receipts, and the save of all of
// it before another contact takes the batch over. What arrives is attributed to a
// channel (node/devices): the stream's peer is a contact's or a listed device's; an initial
// message's key is a contact's or a listed device's (a card's signed device list is taken
// first); a listed device's messages must come from the peer its list names; our own
// devices' contents go to their own dispatch table (Hooks.OwnKinds).
//
// Nothing here holds the messenger: the façade (node/messenger) fills in Hooks once — the
// node's identity and clocks, the dispatch table of the content kinds with their
// handlers, and functions for what other packages own (creating a contact, an identity
// change, the outbox, the events) — and keeps the one transaction that stores a message
// with its session, its receipts and its events. Everything that touches the store is a
// function over that transaction (*store.Tx).
//
// Store keys (values sealed by node/store):
//
//	rx/<channel id>/<envelope id>  envelope already processed (empty value)
//
// A batch also reads and writes the keys of node/contacts (ct/ cu/ cp/), node/sessions
// (ss/ sc/ pk), node/history (cv/ ms/) and node/outbox (ob/ sh/) through those packages.
package inbox
