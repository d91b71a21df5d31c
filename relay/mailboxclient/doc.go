// Package mailboxclient is the node's side of a petrel relay: register a mailbox, deposit
// sealed envelopes (one, or a pipelined batch), fetch and acknowledge (or Drain) one's own
// mail, watch for mail arriving, upload prekeys and fetch another user's bundle. It speaks
// the protocols of relay/relaywire over a libp2p host.Host the caller owns and has connected
// to the relay.
//
// Every call has a deadline (the context's, else DefaultTimeout) and resets its stream when
// the context ends. Bytes from the relay are parsed defensively: a malformed or unexpected
// frame is ErrProtocol, never a panic. Refusals are *RefusedError values matching
// ErrRefused and a reason sentinel (ErrQuotaBytes, ErrRateLimited, ErrUnknownMailbox, ...).
package mailboxclient
