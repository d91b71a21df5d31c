// Package node assembles a petrel node: the encrypted store, the event log, the libp2p host
// and the local API, built in plain constructor code and run under one supervisor. Every
// long-lived part is a Serve(ctx) loop owned by [Node.Run]; when its context ends, the parts
// stop in reverse order and the store is closed cleanly.
//
// The data directory holds:
//
//	keyfile     the store's header: KDF parameters, salt and the wrapped data key (node/store)
//	db/         the Badger files, encrypted (node/store)
//	api.json    written when the API is ready, 0600, removed on clean shutdown (API.md §1)
//
// Records the node keeps in the store (all values sealed by node/store):
//
//	"cfg/identity"   the messenger identity (crypto/identity), private
//	"cfg/p2pkey"     the libp2p host key (protobuf form of libp2p's crypto package), private
//	"cfg/apitoken"   the local API bearer token, stable across restarts until rotated
//	"cfg/apisessions" JSON [{"hash","created"}]: the web UI's sessions (SHA-256 of each cookie)
//	"cfg/profile"    JSON {"name": ...}
//	"ev/…"           the event log (node/eventlog)
package node
