// Package groupmail delivers a group message to the members the GossipSub mesh did not
// reach: one multi deposit per home relay (one sealed body, a sealed header per member's
// mailbox), decided and persisted in the caller's transaction (Deliver) and made, in
// order and with retries across restarts, by one goroutine (Depositor.Run). Members
// without a relay, members a relay refuses, relays without multi deposits and deposits
// older than MaxGroupDepositAge go to the pairwise outbox instead. It knows the rest of
// the node through Config: the store, our identity, a RelayLink and a Pairwise of two
// methods.
//
// Store keys it owns (values JSON, sealed by node/store):
//
//	gd/<seq (16 hex)>   a multi deposit to make at a relay: relay, group, envelope, members, created
//	gdn                 the counter of gd/ sequence numbers
package groupmail
