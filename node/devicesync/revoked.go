package devicesync

import (
	"context"
	"sync"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/store"
)

// revocation is this device's revoked signal: it fires once, when the store already says
// this device is revoked (LoadAccount) or when a transaction that takes a list revoking it
// commits (TakeList). What runs for the account only while the device is active takes its
// context from WithRevocation, and so stops then.
type revocation struct {
	mu      sync.Mutex
	fired   bool
	cancels []context.CancelFunc
}

// fire cancels every context WithRevocation gave, once.
func (r *revocation) fire() {
	r.mu.Lock()
	cs := r.cancels
	r.fired, r.cancels = true, nil
	r.mu.Unlock()
	for _, c := range cs {
		c()
	}
}

// WithRevocation returns a context that ends with ctx or when this device is revoked,
// whichever comes first (at once when it is revoked already), and its cancel.
func (s *Service) WithRevocation(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	r := &s.revoked
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fired {
		cancel()
	} else {
		r.cancels = append(r.cancels, cancel)
	}
	return ctx, cancel
}

// Current is this device within its account (GET /v1/me's device).
func (s *Service) Current(ctx context.Context) (api.CurrentDevice, error) {
	var out api.CurrentDevice
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err == nil {
			out = me.Current()
		}
		return err
	})
	return out, err
}

// revokedNow is what TakeList does in tx when the list it took is the first to revoke
// this device (me, as it now is): it tells every UI (a device_revoked event, once) and
// fires the revoked signal once tx commits.
func (s *Service) revokedNow(tx *store.Tx, me *devices.Self) error {
	s.cfg.Log.Warn("this device was revoked by the account's primary device: it sends nothing from now on")
	if _, err := s.cfg.Events.Append(tx, api.KindDeviceRevoked, me.Current()); err != nil {
		return err
	}
	tx.OnCommit(s.revoked.fire)
	return nil
}

// RefuseRevoked is 403 forbidden, in tx, when the account's list revokes this device: a
// revoked device sends nothing.
func (s *Service) RefuseRevoked(tx *store.Tx) error {
	me, err := s.Self(tx)
	if err != nil {
		return err
	}
	if me.Revoked() {
		return api.Errorf(api.ErrForbidden, "this device was removed from the account by its primary device: it sends nothing")
	}
	return nil
}
