// Package acquaint turns an introduction into a contact: an invite link the user adds, a
// card or a sealed sender that names an identity, a group admin's word for a member. It
// decides which claims to believe: a link proves its identity key (it signs the link), not
// the peer id it names, so a claimed peer never moves another contact's peer and never
// changes who a contact is; a contact's new identity is believed only from its own peer
// (node/inbox), and then IdentityChanged drops what belonged to the old one. It also
// applies what the user decides of a contact (Patch: rename, verify, block, accept).
//
// Every function works in the caller's store transaction (node/store), so one Update spans
// the contact, its direct conversation, its outbox and the events the façade appends.
//
// Store keys: none of its own; it writes node/contacts' records (ct/, cu/, cp/),
// node/sessions' channels and ratchets (sc/, ss/), node/history's direct conversations
// (cv/) and deletes node/outbox's entries of a contact whose identity changed.
package acquaint
