// Package push is the node's side of push wake-ups (API.md §7): the registrations a UI
// creates, lists and deletes, and their hand-over to the push bridge of every home relay.
//
// A registration is kept in the node's store (encrypted at rest, key "pu/" ‖ id) with its
// state at each relay. For UnifiedPush the node makes the RFC 8291 keys itself (a P-256 key
// pair and a 16-byte auth secret): the bridge gets the public key and the secret, the
// private key never leaves the store, and OpenUnifiedPush decrypts what the distributor
// delivers. Web Push registrations carry the browser's own keys; APNs and FCM ones a
// device token.
//
// Service.Run keeps every home relay in step: on each change, and every minute, it opens
// one /petrel/push/1.0.0 exchange per relay (relay/mailboxclient.SyncPush): registrations
// the relay does not hold yet are sealed (crypto/sealed, from the node's identity) to the
// bridge key the relay presents over its authenticated connection and handed over; deleted
// ones are withdrawn; do-not-disturb is set when it changed; and the relay's list of states
// (active, or dead with the provider's reason) is stored. A relay without a bridge shows as
// no_bridge. Deleted registrations stay as tombstones until every relay has withdrawn them.
//
// Do-not-disturb ("ps/dnd") reaches the relays; per-conversation mute ("pm/" ‖ id) stays
// here, for the node's own notification decision.
package push
