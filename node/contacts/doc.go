// Package contacts is the node's address book: who each contact is (identity key, user
// id), where it is reached (peer id, addresses, home relays), what the user decided about
// it (name, verified, blocked, message request) and its direct conversation. A Record is
// the on-disk form, versioned (Version) and mapped to api.Contact in one place (ToAPI).
// Every function works in the caller's store transaction, so one Update spans the contact,
// its messages, its outbox and the events. Delivery counters are not here: they are the
// contact's sessions.Channel. The invite links this node made and has not revoked are
// here too (Invite): a request that names an invite must name a live one.
//
// Store keys (values JSON, sealed by node/store):
//
//	ct/<contact id>   contact record (Record, "v": Version)
//	cu/<user id>      → contact id
//	cp/<peer id>      → contact id (a peer id at most one contact holds)
//	iv/<invite id>    live invite link (Invite, "v": InviteVersion)
package contacts
