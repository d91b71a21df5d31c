// Package groupcommit is the group-commit writer of petrel's Badger stores, node/store and
// relay/relaystore alike: one goroutine that takes every waiting write function, runs them
// one after another in one Badger transaction (each function's writes are buffered by its
// owner and join the transaction only if it returns nil), and commits them with one fsync.
//
// A batch that outgrows one Badger transaction is committed in several: the functions that
// fitted are committed, and the one that did not is retried alone (its reads saw exactly the
// state then committed); a function whose writes alone exceed a transaction fails with an
// error wrapping badger.ErrTxnTooBig.
//
// With Config.Pipeline the writer pipelines: while one group's commit syncs (Badger's
// CommitWith), it already runs the next group's functions, in a Badger transaction opened
// just before that commit (so Badger need not wait for it). Those functions cannot see the
// syncing group's writes in Badger; the owner's per-group state (Config.NewGroup, Added)
// is where it keeps them for its reads. The next commit starts only once the previous one
// has landed, so at most one commit is in flight, commits land in order, and a function
// that ran over a commit that then fails fails too (nothing of it lands).
//
// Landed runs after the fsync, for each function in commit order, before its Submit's
// caller is released. A panic in a function or in Landed is caught and handed to the caller
// (Request.Result), never to the writer goroutine.
//
// The package keeps nothing in the store: it holds no keys of its own.
package groupcommit
