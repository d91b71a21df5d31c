// Command relayload holds many idle, authenticated libp2p connections to a petrel relay,
// to measure how many connected nodes one relay process holds (BENCHMARKS.md):
//
//	relayload -relay /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo... -n 19500 -hold 60s
//
// Each connection is what an idle node costs the relay: TCP, multistream-select, Noise
// (under a fresh Ed25519 identity, so a distinct peer) and Yamux, then nothing. To stay
// light on the load side it uses the transport pieces without a full libp2p host (a
// Yamux session per connection, no services, no identify). Source addresses are spread over
// 127.0.0.0/8 (-sources of them), so no (source, destination) pair runs out of ephemeral
// ports. The run is bounded: -n connections, opened -concurrency at a time, held for
// -hold, then closed; it prints how many connected and how many failed, and with -metrics
// the relay's petrel_relay_connected_peers while held.
//
// With -rss-compare it measures what an idle node costs in memory, against a bare libp2p
// host in the same run (BENCHMARKS.md, "Relay memory"):
//
//	relayload -rss-compare /path/to/petrel -n 5000 -rounds 2 -settle 10s
//
// runs, in turn and each as a fresh process, `petrel relay` with its default configuration
// on a new data directory and a bare libp2p host (relayload -serve-bare: TCP, Noise, Yamux
// with libp2p's defaults, no resource limits, a connection manager that keeps every
// connection), opens -n idle connections to it, and reads its RSS (/proc/PID/status)
// before them and after -settle; it prints each per connection and the relay's ratio.
package main
