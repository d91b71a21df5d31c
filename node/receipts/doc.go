// Package receipts keeps what each member (of a group, or the contact of a direct chat)
// acknowledged of our messages, and when: delivered and read, one small record per
// message and member so an acknowledgement costs O(1) whatever a group's size. Functions
// over *store.Tx; node/groups and node/messenger call them.
//
// Store keys (sealed by node/store):
//
//	gt/<message id>/<user id>   level (1 delivered, 2 read) ‖ delivered_at ‖ read_at (Unix ms,
//	                            8 bytes big-endian each); records of the earlier release are
//	                            the level byte alone and stay readable
package receipts
