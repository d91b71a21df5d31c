// Command groupload measures how long a group message takes to reach every online member
// of a large group (BENCHMARKS.md, "Groups of 1,000"):
//
//	groupload -members 1000 -hosts 250 -messages 20 -gap 250ms -cpuprofile /tmp/g.pprof
//
// Real: -hosts libp2p hosts in this process (TCP, Noise, Yamux on 127.0.0.1), each running
// GossipSub as a petrel node configures it (groups.RouterOptions: mesh degree 8 (6..12),
// flood publishing off, no author or signature, envelope-hash message ids, 4096-deep
// queues, peer exchange off, the same peer score; -floodpublish turns libp2p's flood
// publishing back on to compare) with
// a topic validator that verifies the Sender Keys signature before forwarding. Each host
// is connected to a dozen others and the publisher to all of them, as a member's node is
// to its fellow members after the key exchange. Simulated: the members beyond -hosts. Each
// receiving host stands for (members-1)/(hosts-1) members and, for each, decrypts the
// message with that member's own Sender Keys receiver state and records its own arrival
// time, so the receiving crypto of every member runs on this machine. Not included: each
// member node's store (durable write, event, receipt; see the node benchmarks) and the
// publisher's copies to members beyond the real hosts.
//
// It prints p50, p99 and max from just before Publish to each member's decryption, the
// same for the hosts' GossipSub arrival alone (before any member decrypts), how many hosts
// had their first copy straight from the publisher rather than through the mesh, the
// process's CPU per delivered message and its use of the machine's cores,
// beside two floors measured in the same run: one Sender Keys encrypt + decrypt and one
// round trip on a reused libp2p stream. The run is bounded: -messages messages, each
// waited for at most -wait.
package main
