package mailboxclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// ErrNoBridge: the relay runs no push bridge (it does not speak /petrel/push/1.0.0).
var ErrNoBridge = errors.New("relay: no push bridge")

// PushRegistration is one registration to hand to a bridge.
type PushRegistration struct {
	ID  [relaywire.PushRegistrationIDSize]byte
	Reg relaywire.PushRegistration
}

// PushSync is what one push exchange with a relay changes.
type PushSync struct {
	// Register are sealed to the bridge's key and stored (again: idempotent).
	Register []PushRegistration
	// Unregister are deleted.
	Unregister [][relaywire.PushRegistrationIDSize]byte
	// DND, if not nil, sets do-not-disturb until that Unix ms time (0: off).
	DND *int64
}

// PushSyncResult is the relay's answer.
type PushSyncResult struct {
	// BridgeKey is the key the registrations were sealed to.
	BridgeKey *identity.PublicIdentity
	// Registered[i] is nil once Register[i] is stored, else its refusal.
	Registered []error
	// States are every registration the relay holds for this owner.
	States []relaywire.PushState
}

// SyncPush authenticates as id at relay's push bridge, applies req and lists the states. A
// relay without a bridge answers ErrNoBridge. The bridge key comes over the relay's
// Noise-authenticated connection, so it is the relay's own.
func SyncPush(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, req PushSync) (res PushSyncResult, err error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.PushProtocol)
	if err != nil {
		return res, noBridge(err)
	}
	defer func() { c.close(err) }()
	if err := c.authenticate(h, relay, id, false, ""); err != nil {
		return res, noBridge(err)
	}
	if err := c.send(relaywire.AppendBridgeKey(nil)); err != nil {
		return res, err
	}
	body, err := c.read(relaywire.TypeBridgeKeyIs)
	if err != nil {
		return res, err
	}
	if res.BridgeKey, err = relaywire.ParseBridgeKeyIs(body); err != nil {
		return res, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	mb := relaywire.MailboxID(id.Public())
	for _, r := range req.Register {
		env, err := sealed.SealFrom(mb, res.BridgeKey, id, relaywire.AppendPushRegistration(nil, r.Reg))
		if err != nil {
			return res, fmt.Errorf("mailboxclient: sealing a push registration: %w", err)
		}
		if err := c.send(relaywire.AppendPushRegister(nil, relaywire.PushRegister{ID: r.ID, Sealed: env})); err != nil {
			return res, err
		}
		res.Registered = append(res.Registered, c.result())
		var refused *RefusedError
		if e := res.Registered[len(res.Registered)-1]; e != nil && !errors.As(e, &refused) {
			return res, e
		}
	}
	for _, u := range req.Unregister {
		if err := c.send(relaywire.AppendPushUnregister(nil, u)); err != nil {
			return res, err
		}
		if err := c.result(); err != nil {
			return res, err
		}
	}
	if req.DND != nil {
		if err := c.send(relaywire.AppendPushDND(nil, *req.DND)); err != nil {
			return res, err
		}
		if err := c.result(); err != nil {
			return res, err
		}
	}
	if err := c.send(relaywire.AppendPushList(nil)); err != nil {
		return res, err
	}
	if body, err = c.read(relaywire.TypePushStates); err != nil {
		return res, err
	}
	if res.States, err = relaywire.ParsePushStates(body); err != nil {
		return res, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return res, nil
}

func noBridge(err error) error {
	if errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}) {
		return fmt.Errorf("%w: %w", ErrNoBridge, err)
	}
	return err
}
