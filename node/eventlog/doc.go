// Package eventlog is the node's persistent, node-wide event log: every change a UI must
// see (a message, a status change, a conversation, a contact) is appended here in the same
// store transaction as the change itself, under a sequence number that is strictly increasing
// and survives restarts. UIs resume from the last seq they saw (API.md §5: hello since, GET
// /v1/events) and so miss nothing and see nothing twice.
//
// Layout in the store (keys are bytes; values are sealed by node/store):
//
//	"ev/" ‖ seq (uint64 big-endian)  →  kind (uint8 length ‖ bytes) ‖ payload (JSON)
//	"ev!last"                         →  last assigned seq (uint64 big-endian)
//
// Append reads and bumps "ev!last" inside the caller's transaction, so a transaction that
// fails assigns nothing, and the store's serial writer makes assignment order equal commit
// order. Readers are told about new events through [Log.Subscribe]: a notification carries
// no data, the reader pulls with [Log.Since] from its own cursor, so a slow reader costs
// nothing but its cursor and replay and live delivery are the same code path.
//
// A disappearing message is logged without its content (withhold.go; docs/API.md §9): the
// log is never trimmed, and that content must become unrecoverable at its expiry. The
// local API fills the content back in from the message's record while it lives (the
// node's liveEvents).
package eventlog
