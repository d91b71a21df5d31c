// Package devices holds an account's linked devices as this node knows them: what this
// device is within its account (the account's key, this device's key, the account's signed
// device list and whether it revokes us) and the verified device list of each contact.
//
// The account model (docs/PROTOCOL.md, "Linked devices"): the account identity key stays
// on the account's first device, the primary, and is that device's device key; every other
// device has its own device key, which is that node's identity (cfg/identity) and signs its
// prekeys and sealed envelopes. Only the primary signs the device list (AddDevice, Revoke);
// a linked device stores the account's public key and the list it was given (Provision)
// and takes a newer one only when it verifies under the account key (AcceptOwn). A store
// with no list is a single-device account: its list is the implicit list of one (Implicit),
// so every existing store works unchanged.
//
// A contact's list is kept only when it verifies under the account key we already hold for
// that contact and its Seq is higher than the one we have (AcceptContact); a contact with
// no list is its own one device (Contact).
//
// Channels (channels.go): the pairwise state kept with each remote device — its sessions,
// counters, outbox and envelope dedup in node/sessions, node/outbox and node/inbox — is
// named by a channel id: a contact's id alone for the contact's primary device (so the keys
// of every single-device store stay as they are), "<contact id>~<device id>" for its other
// devices, and "self~<device id>" for our own other devices. Two indexes point a listed
// device's libp2p peer id and its device key's user id at its channel, so that what
// arrives is attributed to (contact, device) and a peer no verified list names is a
// stranger; a list never takes over another owner's index entry.
//
// Every function works in the caller's store transaction (*store.Tx).
//
// Store keys (values sealed by node/store):
//
//	dv/account        the account's public key (identity.PublicIdentity wire form), once
//	                  the account has a list (on the primary from its first AddDevice)
//	dv/list           the account's signed device list (wire.SignDeviceList bytes), the
//	                  highest Seq verified; absent while the account has one device
//	dc/<contact id>   a contact's verified signed device list (the highest Seq verified)
//	dp/<peer id>      → the channel of the listed, active, non-primary device on that peer
//	dk/<user id>      → the same channel, by the user id of that device's key
//	dv/settings       the hybrid logical clock of the newest settings change of the
//	                  account (made here or synced from another device): last writer wins
//	dv/mute/<conv>    the same for conversation conv's mute
package devices
