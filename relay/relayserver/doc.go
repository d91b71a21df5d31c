// Package relayserver is a petrel community relay: one Server owns a libp2p host (TCP, QUIC
// and WebSocket; Noise; Yamux; deliberate resource and connection limits), the circuit
// relay v2 service (reachability and hole-punch coordination, with small deliberate limits;
// never the mail path), the AutoNAT service, the mailbox and prekey directory protocols of
// relay/relaywire (and the blob store's, blob.go) over a Store (relay/relaystore's Badger, or relay/clusterstore's
// NATS JetStream with a `cluster` config), the purge loop for expired mail, and a
// Prometheus /metrics and /healthz endpoint.
//
// Config is the operator's JSON file (docs/OPERATIONS.md lists every field and default).
// New builds the server; Run serves until its context ends, then stops taking streams,
// waits for every handler, and closes the circuit service, the host and the store.
//
// Deposits are acknowledged only once durable (the store's group commit), checked against
// quotas and token-bucket rates per depositor peer and per mailbox, and refused with a
// relaywire.Code otherwise. Owners authenticate by signing a fresh challenge bound to the
// relay's and their own peer ids; only they fetch, acknowledge and watch their mailbox.
// The relay sees mailbox ids and padded envelope sizes, never a sender or plaintext.
//
// With a push configuration (push_config.go) the relay also runs the push bridge
// (pushbridge/): the /petrel/push/1.0.0 protocol (push_handler.go) takes owners' sealed
// registrations, opened only with the bridge's key (push.go), and every durable deposit for
// a mailbox nobody watches is handed to the bridge, which coalesces and sends the pushes.
package relayserver
