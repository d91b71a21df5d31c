package messenger

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/store"
)

// Invite lifetimes (docs/API.md, Invites).
const (
	// DefaultInviteTTL is the lifetime of an invite made without expires_in_s.
	DefaultInviteTTL = 7 * 24 * time.Hour
	// MinInviteTTL and MaxInviteTTL bound expires_in_s.
	MinInviteTTL = time.Minute
	MaxInviteTTL = 90 * 24 * time.Hour
	// maxLiveInvites bounds the invites a node keeps: the oldest go first.
	maxLiveInvites = 200
)

// inviteRec is an invite this node made and has not revoked, stored at kInvite(ID).
// Old stores have none: their (version 1) links never expire and need no record.
type inviteRec struct {
	V       int    `json:"v"`
	ID      string `json:"id"` // hex of invite.Invite.ID
	Link    string `json:"link"`
	Created int64  `json:"created"` // Unix ms
	Expires int64  `json:"expires"` // Unix ms
	Made    int64  `json:"made"`    // Unix ns, to list the newest first
}

const inviteRecVersion = 1

var kInvitePrefix = []byte("iv/")

func kInvite(id string) []byte { return append(slices.Clone(kInvitePrefix), id...) }

func (r *inviteRec) api() api.Invite {
	return api.Invite{Link: r.Link, ID: r.ID, CreatedAt: r.Created, ExpiresAt: r.Expires}
}

// CreateInviteFor makes an invite link valid for ttl (0: DefaultInviteTTL; otherwise
// between MinInviteTTL and MaxInviteTTL), records it as live and returns it with its QR
// code, id and expiry.
func (m *Messenger) CreateInviteFor(ctx context.Context, ttl time.Duration) (api.Invite, error) {
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if ttl < MinInviteTTL || ttl > MaxInviteTTL {
		return api.Invite{}, api.Errorf(api.ErrBadRequest, "an invite lasts from %d seconds to %d days (expires_in_s %d to %d)",
			int(MinInviteTTL/time.Second), int(MaxInviteTTL/(24*time.Hour)), int64(MinInviteTTL/time.Second), int64(MaxInviteTTL/time.Second))
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
	rec := &inviteRec{V: inviteRecVersion, ID: hex.EncodeToString(id), Link: link, Created: now.UnixMilli(), Expires: inv.Expires.UnixMilli(), Made: made.UnixNano()}
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		live, err := m.liveInvites(tx, true)
		if err != nil {
			return err
		}
		for len(live) >= maxLiveInvites { // oldest last
			if err := tx.Delete(kInvite(live[len(live)-1].ID)); err != nil {
				return err
			}
			live = live[:len(live)-1]
		}
		return store.PutJSON(tx, kInvite(rec.ID), rec)
	})
	if err != nil {
		return api.Invite{}, err
	}
	out := rec.api()
	out.QRSVG = svg
	return out, nil
}

// Invites lists the live invites (not revoked, not expired), newest first.
func (m *Messenger) Invites(ctx context.Context) ([]api.Invite, error) {
	var live []*inviteRec
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		live, err = m.liveInvites(tx, true)
		return err
	})
	out := make([]api.Invite, 0, len(live))
	for _, r := range live {
		out = append(out, r.api())
	}
	return out, err
}

// RevokeInvite forgets invite id: requests made under it are refused from now on. An id
// that is not live (unknown, revoked, expired) is not_found.
func (m *Messenger) RevokeInvite(ctx context.Context, id string) error {
	return m.st.Update(ctx, func(tx *store.Tx) error {
		live, err := m.inviteLive(tx, id)
		if err != nil {
			return err
		}
		if !live {
			return api.Errorf(api.ErrNotFound, "no live invite %q (already revoked or expired?)", id)
		}
		return tx.Delete(kInvite(id))
	})
}

// liveInvites reads the invite records, newest first, without the expired ones (which
// it deletes when prune).
func (m *Messenger) liveInvites(tx *store.Tx, prune bool) ([]*inviteRec, error) {
	now := m.nowMS()
	var live []*inviteRec
	var dead [][]byte
	err := tx.Iterate(store.IterOptions{Prefix: kInvitePrefix}, func(k, v []byte) (bool, error) {
		var r inviteRec
		if err := json.Unmarshal(v, &r); err != nil || r.V != inviteRecVersion || now >= r.Expires {
			dead = append(dead, slices.Clone(k))
			return true, nil
		}
		live = append(live, &r)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if prune {
		for _, k := range dead {
			if err := tx.Delete(k); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(live, func(a, b *inviteRec) int {
		if c := cmp.Compare(b.Made, a.Made); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live, nil
}

// inviteLive reports whether id names an invite this node made that is neither revoked
// nor expired.
func (m *Messenger) inviteLive(tx *store.Tx, id string) (bool, error) {
	if len(id) != 2*invite.IDSize {
		return false, nil
	}
	var r inviteRec
	ok, err := store.GetJSON(tx, kInvite(id), &r)
	if err != nil || !ok {
		return false, err
	}
	return r.V == inviteRecVersion && m.nowMS() < r.Expires, nil
}

// checkInviteLink refuses, on the adding side, a link that has expired.
func (m *Messenger) checkInviteLink(inv *invite.Invite) error {
	if !inv.Expired(m.now()) {
		return nil
	}
	who := inv.Name
	if who == "" {
		who = "the person who sent it"
	}
	return api.Errorf(api.ErrBadRequest, "this invite link expired on %s: ask %s for a new one",
		inv.Expires.UTC().Format("2 January 2006 at 15:04 UTC"), who)
}
