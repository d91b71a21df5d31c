// Package reach opens streams to a contact's node and fetches its prekey bundle. Mail and
// prekeys go over a direct connection only, never a relay circuit, which carries live
// signals and hole punching but not mail (ErrCircuitOnly: the outbox deposits at the
// contact's mailbox instead). A prekey bundle comes from the contact's node or, when it
// cannot be reached, from its home relays' prekey directories; neither vouches for
// anything, so a bundle of another identity than the contact's is refused.
//
// Store keys: none; a Dialer is given the contact it reaches.
package reach
