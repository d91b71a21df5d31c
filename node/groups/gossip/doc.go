// Package gossip is the GossipSub router a petrel node runs its group topics on: its
// parameters, peer and topic scoring, queues and message ids (RouterOptions), shared by
// the node (node/groups), the load commands and the benchmarks so that they measure what
// a node runs. docs/PROTOCOL.md, "Groups".
//
// It keeps no store keys.
package gossip
