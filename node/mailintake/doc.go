// Package mailintake takes in the mail drained from the node's own relay mailbox: sealed
// envelopes, opened (inbox.Open) and fed in the order the relay kept them to the pairwise
// receive path (an inbox.Batch per sender) or, for a shared envelope of a multi deposit, to
// the group receive path (a groups.Rx), all in one store transaction that is durable
// before the caller acknowledges the mail to the relay.
//
// Group mail is believed only as far as it is proven: the sealed sender must be a contact
// whose both identity keys sealed it, not blocked, and, where the group chain is known, the
// chain's owner — a member cannot pass its envelope off as another's mail.
//
// It sits on the façade floor: it joins node/inbox and node/groups, which do not know each
// other. Store keys: none of its own.
package mailintake
