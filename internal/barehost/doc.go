// Package barehost is the memory baseline that relay memory is measured against
// (BENCHMARKS.md, relay RSS per idle node): a bare libp2p host on loopback TCP with Noise
// and Yamux at libp2p's defaults, no resource limits, no services of its own, and a
// connection manager whose watermarks are above the number of nodes measured, so it keeps
// every connection (libp2p's default manager trims to 160 once its minute of grace is
// over; the relay's manager keeps the same bookkeeping). cmd/relayload -serve-bare and
// relay/relayserver's BenchmarkIdleNodeMemory both serve this one host.
//
// The package keeps nothing on disk.
package barehost
