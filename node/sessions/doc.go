// Package sessions holds what a node keeps to talk to its contacts privately: its prekey
// store (the signed, last-resort and one-time prekeys it publishes, and which of them have
// been handed out) and the double-ratchet session of each contact (the current one and the
// previous one, with a cache of parsed states). Everything is a function over the store
// transaction (*store.Tx), so that the one Update that writes a message also advances its
// session and consumes its prekeys. The prekey protocol's responder is here too
// (PrekeyServer: per-peer budgets for contacts and strangers, the keys-free bundle, the
// pool's refill) with its requester's side (RequestBundle) and the PQXDH session start
// (Starter, given the bundle fetch). Contact is a contact as delivery works with it: its
// address-book record (node/contacts) and its Channel, loaded and saved together.
//
// Sessions and counters are kept per remote device, under a channel id (node/devices):
// the contact's id for its primary device (so single-device stores keep their keys), and
// "<contact id>~<device id>" or "self~<device id>" for another device of a contact or of
// ours, which LoadContact loads with the device's key, peer and relays in place of the
// contact's (the record itself is the contact's, and SaveContact leaves it alone).
//
// Store keys (sealed by node/store):
//
//	pk                        prekey store (crypto/prekey); pki the one-time ids issued
//	ss/<channel id>/0, /1     ratchet state: 0 sends and receives, 1 receives only
//	sc/<channel id>           the channel's delivery counters and handshake (Channel, JSON,
//	                          "v": ChannelVersion)
package sessions
