// Package owed holds what this node owes the members of a group after a change that
// concerns many of them (node/groups' fan-out): one small record per member, written in
// the change's transaction, naming what is still to send them — a contact to make, our
// sender key as it was then, operations of the log, the whole log — and the snapshots of
// our sender key those records name. Functions over the caller's *store.Tx; node/groups
// sends what is owed and updates the records.
//
// Store keys it owns (values JSON, sealed by node/store):
//
//	gf/<group id>/<user id>   Rec: what we owe the member
//	gs/<group id>/<snap id>   Snapshot: our sender key (a gkey content's data and gseq) as of the change
package owed
