// Package mailboxclient is the node's side of a petrel relay: register a mailbox, deposit
// sealed envelopes (one, or a pipelined batch), fetch and acknowledge (or Drain) one's own
// mail, watch for mail arriving, upload prekeys and fetch another user's bundle. It speaks
// the protocols of relay/relaywire over a libp2p host.Host the caller owns and has connected
// to the relay.
//
// # API
//
//	func MailboxID(p *identity.PublicIdentity) []byte
//	func Register(ctx, h host.Host, relay peer.ID, id *identity.Identity, opts ...RegisterOption) error
//	func WithInvite(code string) RegisterOption
//	func Deposit(ctx, h, relay, mailbox, envelope []byte) error
//	func DepositBatch(ctx, h, relay, []Envelope) (errs []error, err error)
//	func DepositMulti(ctx, h, relay, []Recipient, body []byte) (errs []error, err error)  // one body, ≤ 500 mailboxes
//	func Fetch(ctx, h, relay, id *identity.Identity, max int) ([]Mail, error)
//	func Ack(ctx, h, relay, id *identity.Identity, ids []uint64) error
//	func Drain(ctx, h, relay, id *identity.Identity, batch int, handle func([]Mail) error) (int, error)
//	func Open(ctx, h, relay, id *identity.Identity) (*Session, error)   // Fetch/Ack/Close on one stream
//	func Watch(ctx, h, relay, id *identity.Identity) (<-chan uint64, error)
//	func UploadPrekeys(ctx, h, relay, id *identity.Identity, u *Upload) (Remaining, error)
//	func PrekeyCount(ctx, h, relay, id *identity.Identity) (Remaining, error)
//	func FetchBundle(ctx, h, relay, who *identity.PublicIdentity) (*prekey.Bundle, error)
//	func PutBlob(ctx, h, relay, id *identity.Identity, blob []byte) (relaywire.BlobID, error)  // blob.go
//	func GetBlob(ctx, h, relay, blob relaywire.BlobID, off, n int) ([]byte, error)            // whole: verified
//	func HasBlob(ctx, h, relay, blob relaywire.BlobID) (BlobInfo, error)
//	func VerifyBlob(relay, blob relaywire.BlobID, b []byte) error
//	type Blobs struct{ Host; Relay; ID }  // Put(ctx, b) / Get(ctx, blob, off, n) / Has(ctx, blob)
//
// Every call has a deadline (the context's, else DefaultTimeout) and resets its stream when
// the context ends. Bytes from the relay are parsed defensively: a malformed or unexpected
// frame is ErrProtocol, never a panic. Refusals are *RefusedError values matching
// ErrRefused and a reason sentinel (ErrQuotaBytes, ErrRateLimited, ErrUnknownMailbox, ...).
//
// Delivery semantics: a nil error from Deposit means the relay holds the envelope durably.
// Mail stays at the relay until acknowledged, so Fetch is at-least-once (Drain acknowledges a
// round only after its handler returned nil); dedup by content on the node.
package mailboxclient
