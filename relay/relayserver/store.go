package relayserver

import (
	"context"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Store is what the handlers need from the relay's durable state: registrations, mailboxes
// (single and multi deposits under quotas, fetch, acknowledgement, expiry), the prekey
// directory and the totals. relaystore.Store (Badger, one process) is the default; a
// relay with a `cluster` config uses relay/clusterstore (NATS JetStream, several
// processes). Errors are relaystore's sentinels (relaystore.ErrUnknownMailbox, ...) in
// both, so the handlers map them to codes once.
//
// A store calls the OnDeposit function it was opened with after a deposit is durable
// (for a cluster store: a deposit at any process), without blocking.
type Store interface {
	Register(ctx context.Context, owner *identity.PublicIdentity, now time.Time) (created bool, err error)
	Owner(mailbox []byte) (*identity.PublicIdentity, error)

	// StartDepositUntil and StartMultiDepositUntil store mail until the earlier of until
	// (zero: none) and the quota's TTL; the store never fetches it from then on and
	// PurgeExpired deletes it.
	StartDepositUntil(ctx context.Context, mailbox, envelope []byte, now, until time.Time, q relaystore.Quota) (wait func() (uint64, error))
	StartMultiDepositUntil(ctx context.Context, recipients []relaystore.Recipient, body []byte, now, until time.Time, q relaystore.Quota) (wait func() ([]error, error))
	Waiting(mailbox []byte) uint64
	Fetch(mailbox []byte, max, maxBytes int, now time.Time) (mail []relaywire.Mail, more bool, err error)
	Ack(ctx context.Context, mailbox []byte, ids []uint64) (int, error)
	PurgeExpired(ctx context.Context, now time.Time) (int, error)

	PutPrekeys(ctx context.Context, mailbox []byte, u *relaywire.Upload, maxOneTime int) (relaystore.Remaining, error)
	PrekeyCount(mailbox []byte) (relaystore.Remaining, error)
	TakeBundle(ctx context.Context, mailbox []byte) (*prekey.Bundle, error)

	// Push registrations, as the owner sealed them to the push bridge, and do-not-disturb
	// (push_handler.go, push.go).
	PutPush(ctx context.Context, mailbox []byte, id [relaywire.PushRegistrationIDSize]byte, sealedReg []byte, now time.Time, max int) error
	DeletePush(ctx context.Context, mailbox []byte, id [relaywire.PushRegistrationIDSize]byte) error
	MarkPushDead(ctx context.Context, mailbox []byte, id [relaywire.PushRegistrationIDSize]byte, reason string) error
	Pushes(mailbox []byte) ([]relaystore.PushRecord, error)
	SetPushDND(ctx context.Context, mailbox []byte, until time.Time) error
	PushDND(mailbox []byte) (time.Time, error)

	// The blob store (blob.go).
	BlobStore

	// CollectGarbage reclaims space (Badger's value log; a no-op where the engine does it).
	CollectGarbage(rounds int) (int, error)
	Stats() relaystore.Stats
	Close() error
}

var _ Store = (*relaystore.Store)(nil)
