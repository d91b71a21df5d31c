// Package groupcontacts is the address book and the pairwise outbox as node/groups sees
// them within one store transaction (groups.Pairwise): a member's contact, content queued
// to a member over our pairwise session, a member made a contact so that a session can
// carry keys and receipts, and whether a member's outbox is empty. A Cache holds the
// contact records of one transaction, so that a contact enqueued to several times (or held
// by the inbound batch) is written from one copy.
//
// A member card is a group admin's word, not the member's: it never moves one of our
// contacts to another identity. Members we did not add ourselves become group-only
// contacts: reachable, hidden from the contact list until the user adds them.
//
// It sits on the façade floor: it joins node/groups to node/contacts, node/sessions and
// node/outbox. Store keys: none of its own.
package groupcontacts
