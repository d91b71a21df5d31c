// Package devicesync is linked devices at the façade (docs/PROTOCOL.md, "Linked devices"):
// the account's device management (AddDevice, RevokeDevice, Devices, ContactDevices, over
// node/devices), the fan-out of a content to every active device of a contact (one
// encryption per device, each in its own channel), the copies of what this device does for
// our own other devices (sent texts, read marks, edits, deletes, reactions, contacts, a
// direct chat's timer; settings and mutes, last writer wins: settings.go; a contact's
// receipts: status.go) and their receiving side, a linked device's reachability signed
// into the list by the primary (reach.go), this device's revoked signal (revoked.go), and
// the taking of a signed device list from a card or a devices content.
//
// It stands on the façade floor: it ties node/devices to the contacts, sessions, outbox,
// inbox and history. The messenger (node/messenger) creates the Service and gives it what
// it needs of itself in Config (Enqueue, NewContact, the message and conversation
// writers); every function works in the caller's store transaction, so a message, its
// copies for every device and the events are one commit.
//
// Store keys: none of its own (node/devices holds dv/ dc/ dp/ dk/; the channels' sessions,
// counters and outboxes are node/sessions' and node/outbox's, keyed by channel id).
package devicesync
