// Package grouplog holds a group's state as every member computes it: the signed
// operation log, its fold (Fold: sort by Less, apply each operation valid at its point, so
// that every member holding the same set computes the same state, whatever the order they
// arrived in), the records the state is stored in, and the changes the UI lists
// (Changes). Everything is a pure function over bytes or the caller's *store.Tx;
// node/groups signs operations, sends them and reacts to a new state.
//
// Store keys it owns (values JSON or signed operation bytes, sealed by node/store):
//
//	gr/<group id>              group header: the state folded from the log (no members in layout 1)
//	gm/<group id>              Meta, the little a message needs: me, head, our seq, member count
//	gn/<group id>/<bucket>     the members, in 64 buckets by a hash of the user id (2 hex digits)
//	go/<group id>/<op hash>    one signed operation (op hash: OpKey, 16 bytes of SHA-256, hex)
//	gl/<group id>              the first layout's whole log (read, and dropped on the next Save)
package grouplog
