package contacts

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

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
	// MaxLiveInvites bounds the invites a node keeps: the oldest go first.
	MaxLiveInvites = 200
)

// InviteVersion is the version of the Invite record this code writes and reads.
const InviteVersion = 1

// Invite is an invite link this node made and has not revoked, stored at InviteKey(ID).
// Old stores have none: their (version 1) links never expire and need no record.
type Invite struct {
	V       int    `json:"v"`
	ID      string `json:"id"` // hex of invite.Invite.ID
	Link    string `json:"link"`
	Created int64  `json:"created"` // Unix ms
	Expires int64  `json:"expires"` // Unix ms
	Made    int64  `json:"made"`    // Unix ns, to list the newest first
}

// InvitePrefix is the prefix of every invite record's key.
var InvitePrefix = []byte("iv/")

// InviteKey is the store key of invite id.
func InviteKey(id string) []byte { return append(slices.Clone(InvitePrefix), id...) }

// API is r as the local API shows it (without its QR code).
func (r *Invite) API() api.Invite {
	return api.Invite{Link: r.Link, ID: r.ID, CreatedAt: r.Created, ExpiresAt: r.Expires}
}

// AddInvite records r as live (at InviteVersion), first dropping the expired invites and,
// past MaxLiveInvites, the oldest.
func AddInvite(tx *store.Tx, r *Invite, now time.Time) error {
	live, err := LiveInvites(tx, now, true)
	if err != nil {
		return err
	}
	for len(live) >= MaxLiveInvites { // oldest last
		if err := tx.Delete(InviteKey(live[len(live)-1].ID)); err != nil {
			return err
		}
		live = live[:len(live)-1]
	}
	r.V = InviteVersion
	return store.PutJSON(tx, InviteKey(r.ID), r)
}

// LiveInvites reads the invite records, newest first, without the expired ones (which it
// deletes when prune).
func LiveInvites(tx *store.Tx, now time.Time, prune bool) ([]*Invite, error) {
	ms := now.UnixMilli()
	var live []*Invite
	var dead [][]byte
	err := tx.Iterate(store.IterOptions{Prefix: InvitePrefix}, func(k, v []byte) (bool, error) {
		var r Invite
		if err := json.Unmarshal(v, &r); err != nil || r.V != InviteVersion || ms >= r.Expires {
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
	slices.SortFunc(live, func(a, b *Invite) int {
		if c := cmp.Compare(b.Made, a.Made); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live, nil
}

// InviteLive reports whether id names an invite this node made that is neither revoked
// nor expired at now.
func InviteLive(tx *store.Tx, id string, now time.Time) (bool, error) {
	if len(id) != 2*invite.IDSize {
		return false, nil
	}
	var r Invite
	ok, err := store.GetJSON(tx, InviteKey(id), &r)
	if err != nil || !ok {
		return false, err
	}
	return r.V == InviteVersion && now.UnixMilli() < r.Expires, nil
}

// RevokeInvite forgets invite id: requests made under it are refused from now on. An id
// that is not live at now (unknown, revoked, expired) is api not_found.
func RevokeInvite(tx *store.Tx, id string, now time.Time) error {
	live, err := InviteLive(tx, id, now)
	if err != nil {
		return err
	}
	if !live {
		return api.Errorf(api.ErrNotFound, "no live invite %q (already revoked or expired?)", id)
	}
	return tx.Delete(InviteKey(id))
}

// CheckLink refuses, on the adding side, a link that has expired at now.
func CheckLink(inv *invite.Invite, now time.Time) error {
	if !inv.Expired(now) {
		return nil
	}
	who := inv.Name
	if who == "" {
		who = "the person who sent it"
	}
	return api.Errorf(api.ErrBadRequest, "this invite link expired on %s: ask %s for a new one",
		inv.Expires.UTC().Format("2 January 2006 at 15:04 UTC"), who)
}
