package mailboxclient

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Remaining says how many one-time prekeys of each kind the relay still holds.
type Remaining = relaywire.Remaining

// Upload is what UploadPrekeys sends (relaywire.Upload).
type Upload = relaywire.Upload

// UploadPrekeys uploads id's prekeys to relay (id must be registered there) and returns how
// many one-time prekeys of each kind the relay now holds, so the owner knows when to refill.
func UploadPrekeys(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, u *Upload) (Remaining, error) {
	return prekeyOwner(ctx, h, relay, id, relaywire.AppendUpload(nil, u))
}

// PrekeyCount returns how many one-time prekeys of each kind relay still holds for id.
func PrekeyCount(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity) (Remaining, error) {
	return prekeyOwner(ctx, h, relay, id, relaywire.AppendCount(nil))
}

func prekeyOwner(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, req []byte) (rem Remaining, err error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.PrekeyDirProtocol)
	if err != nil {
		return Remaining{}, err
	}
	defer func() { c.close(err) }()
	if err := c.authenticate(h, relay, id, false, ""); err != nil {
		return Remaining{}, err
	}
	if err := c.send(req); err != nil {
		return Remaining{}, err
	}
	body, err := c.read(relaywire.TypeRemaining)
	if err != nil {
		return Remaining{}, err
	}
	rem, err = relaywire.ParseRemaining(body)
	if err != nil {
		return Remaining{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return rem, nil
}

// FetchBundle asks relay for a prekey bundle of who, consuming one one-time prekey of each
// kind there if any is left. The bundle is verified and must belong to who.
func FetchBundle(ctx context.Context, h host.Host, relay peer.ID, who *identity.PublicIdentity) (b *prekey.Bundle, err error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.PrekeyDirProtocol)
	if err != nil {
		return nil, err
	}
	defer func() { c.close(err) }()
	if err := c.send(relaywire.AppendGetBundle(nil, relaywire.MailboxID(who))); err != nil {
		return nil, err
	}
	body, err := c.read(relaywire.TypeBundle)
	if err != nil {
		return nil, err
	}
	b, err = relaywire.ParseBundle(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if !b.Identity().Equal(who) {
		return nil, fmt.Errorf("%w: bundle of another identity", ErrProtocol)
	}
	return b, nil
}
