package messenger

// Invite links (docs/API.md, Invites): the link is made here, with the host's peer id and
// addresses; the live-invite records are node/contacts' (contacts.Invite).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/store"
)

// CreateInviteFor makes an invite link valid for ttl (0: DefaultInviteTTL; otherwise
// between MinInviteTTL and MaxInviteTTL), records it as live and returns it with its QR
// code, id and expiry.
func (m *Messenger) CreateInviteFor(ctx context.Context, ttl time.Duration) (api.Invite, error) {
	if ttl == 0 {
		ttl = contacts.DefaultInviteTTL
	}
	if ttl < contacts.MinInviteTTL || ttl > contacts.MaxInviteTTL {
		return api.Invite{}, api.Errorf(api.ErrBadRequest, "an invite lasts from %d seconds to %d days (expires_in_s %d to %d)",
			int(contacts.MinInviteTTL/time.Second), int(contacts.MaxInviteTTL/(24*time.Hour)), int64(contacts.MinInviteTTL/time.Second), int64(contacts.MaxInviteTTL/time.Second))
	}
	h := m.hostOrNil()
	if h == nil {
		return api.Invite{}, api.Errorf(api.ErrUnavailable, "the node is starting")
	}
	id := make([]byte, invite.IDSize)
	if _, err := rand.Read(id); err != nil {
		return api.Invite{}, fmt.Errorf("invite id: %w", err)
	}
	made := m.now()
	now := made.Truncate(time.Second)
	inv := invite.Invite{
		Identity: m.id.Public(),
		PeerID:   h.ID(),
		Name:     m.cfg.Profile(),
		Addrs:    h.Addrs(),
		Created:  now,
		ID:       id,
		Expires:  now.Add(ttl),
	}
	for _, r := range m.cfg.Relays {
		if a, err := ma.NewMultiaddr(r); err == nil {
			inv.Relays = append(inv.Relays, a)
		}
	}
	link, err := invite.Link(m.id, inv)
	if err != nil {
		return api.Invite{}, err
	}
	svg, err := invite.QRSVG(link)
	if err != nil {
		return api.Invite{}, err
	}
	rec := &contacts.Invite{ID: hex.EncodeToString(id), Link: link, Created: now.UnixMilli(), Expires: inv.Expires.UnixMilli(), Made: made.UnixNano()}
	err = m.st.Update(ctx, func(tx *store.Tx) error { return contacts.AddInvite(tx, rec, m.now()) })
	if err != nil {
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
