// Package homerelays keeps a node registered at its home relays (the relays named by
// --relay): it connects and registers (with an invite code where the relay needs one),
// keeps the relay's prekey directory stocked with the node's prekeys, watches the mailbox and
// drains it in order, acknowledging each batch only once the messenger has made it durable.
// It knows the messenger only through the three functions of Config, so it sits below it.
// Addresses are full multiaddrs with /p2p/; an address may carry #invite=CODE (SplitInvites).
package homerelays
