// Package members is the pairwise side of the group engine as it sees a member: a person
// (a user id) who may have several linked devices. It holds the Pairwise the messenger
// gives node/groups over one store transaction — contact lookups, and sends that go to
// every active device of a member (one pairwise channel each, node/devices) or to one of
// them, and to our own other devices for our own user id — and the contact cache that
// transaction shares with the inbound batch, so that a channel enqueued to several times is
// written from one copy. docs/PROTOCOL.md, "Groups" and "Linked devices".
//
// It keeps no store keys of its own: it reads the contacts (node/contacts, node/sessions)
// and the verified device lists (node/devices) and writes through the caller's Enqueue.
package members
