package messenger

// Invite links (docs/API.md, Invites): node/contacts signs them (contacts.MakeInvite) with
// the host's peer id and addresses, and keeps the live-invite records (contacts.Invite).

import (
	"context"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/store"
)

// CreateInviteFor makes an invite link valid for ttl (0: DefaultInviteTTL; otherwise
// between MinInviteTTL and MaxInviteTTL), records it as live and returns it with its QR
// code, id and expiry.
func (m *Messenger) CreateInviteFor(ctx context.Context, ttl time.Duration) (api.Invite, error) {
	if _, err := contacts.InviteTTL(ttl); err != nil {
		return api.Invite{}, err
	}
	if err := m.st.View(m.dev.RefuseRevoked); err != nil { // a revoked device invites no one
		return api.Invite{}, err
	}
	h := m.hostOrNil()
	if h == nil {
		return api.Invite{}, api.Errorf(api.ErrUnavailable, "the node is starting")
	}
	who := contacts.Inviter{Identity: m.id, Peer: h.ID(), Addrs: h.Addrs(), Name: m.cfg.Profile(), Relays: m.cfg.Relays}
	rec, svg, err := contacts.MakeInvite(who, ttl, m.now())
	if err != nil {
		return api.Invite{}, err
	}
	if err := m.st.Update(ctx, func(tx *store.Tx) error { return contacts.AddInvite(tx, rec, m.now()) }); err != nil {
		return api.Invite{}, err
	}
	out := rec.API()
	out.QRSVG = svg
	return out, nil
}

// Invites lists the live invites (not revoked, not expired), newest first.
func (m *Messenger) Invites(ctx context.Context) ([]api.Invite, error) {
	var live []*contacts.Invite
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		live, err = contacts.LiveInvites(tx, m.now(), true)
		return err
	})
	out := make([]api.Invite, 0, len(live))
	for _, r := range live {
		out = append(out, r.API())
	}
	return out, err
}

// RevokeInvite forgets invite id: requests made under it are refused from now on. An id
// that is not live (unknown, revoked, expired) is not_found.
func (m *Messenger) RevokeInvite(ctx context.Context, id string) error {
	return m.st.Update(ctx, func(tx *store.Tx) error { return contacts.RevokeInvite(tx, id, m.now()) })
}
