// Package relaytest starts real petrel relays (relayserver.Server with its Badger store in a
// temporary directory, listening on loopback TCP) for other packages' tests, and stops them
// when the test ends.
package relaytest
