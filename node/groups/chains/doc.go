// Package chains is the group engine's index, in memory, of whose Sender Keys chain a
// distribution id names: for every chain id, the group, the member (a user id) and the
// member's device (the user id of that device's key, the member's own for their primary)
// whose chain it is, and its signing key. A group message is attributed to the indexed
// chain of its group whose signing key verifies it (Index.Owner), so a member who
// announces another's id silences no one, and an id bound to its owner
// (senderkey.NewSenderBound over wire.GroupKeyOwner of the group and the device) names
// that device alone. Chains of members who left, and of devices revoked, are remembered
// as revoked (their messages are Rejected by the GossipSub validators).
//
// It keeps no store keys: node/groups rebuilds it from its gk/ and gq/ records at start.
package chains
