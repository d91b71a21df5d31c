package contacts

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

func inviteID(n int) string {
	b := make([]byte, invite.IDSize)
	copy(b, fmt.Sprintf("%08d", n))
	return hex.EncodeToString(b)
}

// TestInviteLiveUntilRevokedOrExpired: an invite is live from when it is added until it
// is revoked or its expiry passes; an unknown or malformed id is never live, and revoking
// what is not live is not_found.
func TestInviteLiveUntilRevokedOrExpired(t *testing.T) {
	st := storetest.Open(t)
	now := time.Unix(1_800_000_000, 0)
	a, b := &Invite{ID: inviteID(1), Expires: now.Add(time.Hour).UnixMilli()}, &Invite{ID: inviteID(2), Expires: now.Add(time.Minute).UnixMilli()}
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := AddInvite(tx, a, now); err != nil {
			return err
		}
		return AddInvite(tx, b, now)
	})
	live := func(id string, at time.Time) bool {
		var ok bool
		_ = st.View(func(tx *store.Tx) error {
			var err error
			ok, err = InviteLive(tx, id, at)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		return ok
	}
	if !live(a.ID, now) || !live(b.ID, now) {
		t.Fatal("a fresh invite is not live")
	}
	if live(b.ID, now.Add(time.Minute)) {
		t.Error("an invite is live at its expiry")
	}
	if live(inviteID(3), now) || live("zz", now) || live(a.ID[:10], now) {
		t.Error("an unknown or malformed id is live")
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return RevokeInvite(tx, a.ID, now) })
	if live(a.ID, now) {
		t.Error("a revoked invite is live")
	}
	_ = st.View(func(tx *store.Tx) error {
		if err := RevokeInvite(tx, a.ID, now); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("revoking it again: %v, want not_found", err)
		}
		return nil
	})
}

// TestInvitesBoundedOldestFirstOut: past MaxLiveInvites the oldest invite goes, the
// expired ones are pruned, and the list is newest first.
func TestInvitesBoundedOldestFirstOut(t *testing.T) {
	st := storetest.Open(t)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour).UnixMilli()
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := AddInvite(tx, &Invite{ID: inviteID(0), Expires: now.UnixMilli(), Made: 0}, now.Add(-time.Second)); err != nil {
			return err
		}
		for i := 1; i <= MaxLiveInvites+1; i++ {
			if err := AddInvite(tx, &Invite{ID: inviteID(i), Expires: exp, Made: int64(i)}, now); err != nil {
				return err
			}
		}
		return nil
	})
	storetest.Update(t, st, func(tx *store.Tx) error {
		all, err := LiveInvites(tx, now, false)
		if err != nil {
			return err
		}
		if len(all) != MaxLiveInvites {
			t.Fatalf("%d live invites, want %d", len(all), MaxLiveInvites)
		}
		if all[0].ID != inviteID(MaxLiveInvites+1) || all[len(all)-1].ID != inviteID(2) {
			t.Errorf("newest %s, oldest %s: want the newest first and invite 1 gone", all[0].ID, all[len(all)-1].ID)
		}
		n := 0
		if err := tx.Iterate(store.IterOptions{Prefix: InvitePrefix}, func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
			return err
		}
		if n != MaxLiveInvites {
			t.Errorf("%d invite records kept, want %d (the expired one pruned)", n, MaxLiveInvites)
		}
		return nil
	})
}

// TestCheckLinkRefusesExpired: the adding side refuses an expired link with a sentence
// naming who to ask, and takes a live one.
func TestCheckLinkRefusesExpired(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	inv := &invite.Invite{Name: "Ann", Expires: now.Add(-time.Second)}
	if err := CheckLink(inv, now); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("expired link: %v, want bad_request", err)
	}
	inv.Expires = now.Add(time.Hour)
	if err := CheckLink(inv, now); err != nil {
		t.Errorf("live link: %v", err)
	}
}
