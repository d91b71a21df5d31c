// Package groups is the group engine of a node: a group's state is a signed operation
// log every member folds the same way (node/groups/grouplog); messages are encrypted once
// with the sender's Sender Keys chain and published on GossipSub (msg.go, pubsub.go);
// keys, receipts and resends go over the pairwise sessions; members the mesh did not
// reach get one multi deposit per home relay (node/groups/groupmail), or a pairwise copy
// when that is not possible; a change that concerns many members is served from
// per-member records (fanout.go; the records are node/groups/owed). docs/PROTOCOL.md
// describes the bytes.
//
// Nothing here holds the messenger: what groups needs of the rest — the pairwise side of a
// transaction (contacts, sends), the message history, the relay link, the clock and the
// profile — comes through Config (Pairwise, History, RelayLink), and every change is a
// function over the caller's store transaction, so one Update still spans group state,
// message, outbox and events.
//
// Store keys (values are JSON or crypto wire forms, sealed by node/store):
//
//	gr/, gm/, gn/, go/, gl/        the group's state and signed log: node/groups/grouplog
//	gk/<group id>                  our Sender Keys sending chain in the group
//	gx/<group id>/<user id>        a member's receiver chains; gq/… their sequence numbers
//	gw/<group id>/<user id>        a distribution that arrived before its sender was a member
//	gh/<group id>/<seq>            our group envelopes, kept for resend requests (last 1024); a
//	                               disappearing content's as 0x00 ‖ sealed (History.SealSent)
//	gt/<message id>/<user id>      a member's receipt for one of our messages, with its times (receipts.go; direct ones too)
//	gf/, gs/                       what we owe members after a large change: node/groups/owed
//	gd/<seq>, gdn                  multi deposits to make at relays: node/groups/groupmail
package groups
