// Package nodetest starts real petrel nodes for tests: a real encrypted store in a temp
// directory, a real libp2p host on loopback, the real local API on a free loopback port, and a
// localclient talking to it. Nothing is faked. Befriend and BefriendBoth make two test nodes
// contacts; node/nodetest/wait is the one polling loop ("eventually") tests share.
package nodetest
