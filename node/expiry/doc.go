// Package expiry is disappearing messages' time (docs/API.md §9): a conversation's timer
// (Check, Apply: the conversation record and the system line every member shows), each
// message's expires_at (Start at sending, StartRead when read on a receiving node,
// ExpiredOnArrival for one that comes too late), and the loop that deletes messages as they
// expire (Timers.Run, owned by the messenger's Run). What it needs of the rest of the node
// (storing a system line, reporting a conversation, deleting an expired message with its
// media) comes through Config, filled in by node/messenger. The content of a disappearing
// message is sealed at rest under node/shredkeys bucket keys by node/history and
// node/outbox; the keys are destroyed by the keyring (docs/OPERATIONS.md).
//
// Store keys it owns (sealed by node/store):
//
//	dx/<expires at, 16 digits>/<id> → empty: the expiry index (history.KeyExpiry), one
//	                                  per message with a running timer, in expiry order
//
// and it writes the conversation records' disappear and disappear_ts (cv/, node/history).
package expiry
