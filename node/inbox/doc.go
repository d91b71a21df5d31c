// Package inbox is the receiving side of the pairwise message protocol: the /petrel/msg
// stream handler (per-frame read deadline, a byte budget for frames read ahead, batches,
// acknowledgements once durable), the intake of sealed mailbox mail (opening envelopes and
// ordering them into per-sender batches), envelope dedup, the decryption of a contact's
// messages under its two sessions and the PQXDH responder of initial messages, the
// sequence-number gaps that become resend requests, and the table that dispatches each
// decrypted content by kind to the handler registered for it.
//
// Nothing here holds the messenger: the façade (node/messenger) passes what a step needs —
// the receive function of a stream, the batches of a receiving transaction, the handlers of
// the dispatch table — and keeps the one transaction that stores a message with its
// session, its receipts and its events. Everything that touches the store is a function
// over that transaction (*store.Tx).
//
// Store keys (values sealed by node/store):
//
//	rx/<contact id>/<envelope id>  envelope already processed (empty value)
package inbox
