// Package p2phost builds the node's libp2p host: TCP and QUIC transports, Noise security,
// Yamux multiplexing, and a resource manager and connection manager sized on purpose rather
// than left to defaults that scale with the machine's RAM.
//
// A personal node talks to a few hundred peers at most (its contacts, their relays, the
// members of its groups), so [DefaultResources] caps it well below what libp2p would allow a
// dedicated server; relays pass their own, larger [Resources].
//
// The host's key is a libp2p Ed25519 key separate from the messenger identity key
// (crypto/identity): the peer id is a network address, the identity key is who you are, and
// keeping them apart means a network key can be rotated without changing safety numbers.
package p2phost
