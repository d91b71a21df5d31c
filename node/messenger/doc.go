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
//	gr/<group id>                  group: signed operation log and the state folded from it
//	gk/<group id>                  our Sender Keys sending chain in the group
//	gx/<group id>/<user id>        a member's receiver chains; gq/… their sequence numbers
//	gw/<group id>/<user id>        a distribution that arrived before its sender was a member
//	gh/<group id>/<seq>            our group envelopes, kept for resend requests (last 1024)
//	gt/<message id>/<user id>      a member's receipt for one of our group messages
//	gd/<seq (16 hex)>              a multi deposit to make at a relay: group envelope and members; gdn its counter
//
// Presence and typing live in node/presence (its keys are listed there). Groups
// (group*.go) are described in docs/PROTOCOL.md: the group state is a signed operation
// log every member folds the same way; messages are encrypted once with the sender's Sender Keys chain and published on
// GossipSub; keys, receipts and resends go over the pairwise sessions; members the mesh
// did not reach get one multi deposit per home relay (group_deposit.go, records under
// gd/), or a pairwise copy when that is not possible.
package messenger
