package contacts

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
)

// Inviter is what an invite link names of this node: the key that signs it, the peer and
// addresses its host listens at, the user's name and the home relays (full multiaddrs).
type Inviter struct {
	Identity *identity.Identity
	Peer     peer.ID
	Addrs    []ma.Multiaddr
	Name     string
	Relays   []string
}

// InviteTTL is the lifetime asked for (0: DefaultInviteTTL), or a bad request outside
// MinInviteTTL to MaxInviteTTL.
func InviteTTL(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if ttl < MinInviteTTL || ttl > MaxInviteTTL {
		return 0, api.Errorf(api.ErrBadRequest, "an invite lasts from %d seconds to %d days (expires_in_s %d to %d)",
			int(MinInviteTTL/time.Second), int(MaxInviteTTL/(24*time.Hour)), int64(MinInviteTTL/time.Second), int64(MaxInviteTTL/time.Second))
	}
	return ttl, nil
}

// MakeInvite signs a fresh invite link of who, made at made and valid for ttl (InviteTTL),
// and returns its record (for AddInvite) and the link's QR code.
func MakeInvite(who Inviter, ttl time.Duration, made time.Time) (*Invite, string, error) {
	ttl, err := InviteTTL(ttl)
	if err != nil {
		return nil, "", err
	}
	id := make([]byte, invite.IDSize)
	if _, err := rand.Read(id); err != nil {
		return nil, "", fmt.Errorf("invite id: %w", err)
	}
	now := made.Truncate(time.Second)
	inv := invite.Invite{
		Identity: who.Identity.Public(), PeerID: who.Peer, Name: who.Name, Addrs: who.Addrs,
		Created: now, ID: id, Expires: now.Add(ttl),
	}
	for _, r := range who.Relays {
		if a, err := ma.NewMultiaddr(r); err == nil {
			inv.Relays = append(inv.Relays, a)
		}
	}
	link, err := invite.Link(who.Identity, inv)
	if err != nil {
		return nil, "", err
	}
	svg, err := invite.QRSVG(link)
	if err != nil {
		return nil, "", err
	}
	rec := &Invite{ID: hex.EncodeToString(id), Link: link, Created: now.UnixMilli(), Expires: inv.Expires.UnixMilli(), Made: made.UnixNano()}
	return rec, svg, nil
}
