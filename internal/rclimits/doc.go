// Package rclimits builds the libp2p resource manager's limits from a host's quotas: one
// builder for the node's host (node/p2phost) and the relay's (relay/relayserver). The base is
// libp2p's default scaling (with its protocol and service limits) scaled to the quotas'
// memory and file descriptors; the quotas then override it at system, transient and
// per-peer scope.
package rclimits
