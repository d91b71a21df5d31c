package contacts

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
)

// TestMakeInviteSignsWhatItRecords: the link MakeInvite returns parses, is signed by the
// node's identity, names its peer, addresses, name and relays, expires when its record
// says, and carries the record's id; a lifetime out of range is a bad request.
func TestMakeInviteSignsWhatItRecords(t *testing.T) {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	relay := "/ip4/127.0.0.1/tcp/4002/p2p/" + pid.String()
	made := time.Unix(1_800_000_000, 500_000_000)
	who := Inviter{Identity: id, Peer: pid, Addrs: []ma.Multiaddr{addr}, Name: "Ada", Relays: []string{relay, "not an address"}}
	rec, svg, err := MakeInvite(who, time.Hour, made)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg, "<svg") {
		t.Errorf("QR code is not an SVG: %.40q", svg)
	}
	inv, err := invite.Parse(rec.Link)
	if err != nil {
		t.Fatalf("the link does not parse: %v", err)
	}
	if !inv.Identity.Equal(id.Public()) || inv.PeerID != pid || inv.Name != "Ada" {
		t.Errorf("link names identity %v peer %s name %q", inv.Identity.UserID(), inv.PeerID, inv.Name)
	}
	if len(inv.Addrs) != 1 || !inv.Addrs[0].Equal(addr) || len(inv.Relays) != 1 || inv.Relays[0].String() != relay {
		t.Errorf("link addrs %v relays %v", inv.Addrs, inv.Relays)
	}
	if want := made.Truncate(time.Second).Add(time.Hour); !inv.Expires.Equal(want) || rec.Expires != want.UnixMilli() {
		t.Errorf("expires %v (record %d), want %v", inv.Expires, rec.Expires, want)
	}
	if got := hex.EncodeToString(inv.ID); got != rec.ID || rec.Made != made.UnixNano() {
		t.Errorf("record id %s made %d; link id %s", rec.ID, rec.Made, got)
	}
	if err := CheckLink(inv, made); err != nil {
		t.Errorf("a fresh link is refused: %v", err)
	}
	for _, ttl := range []time.Duration{time.Second, MaxInviteTTL + time.Second, -time.Hour} {
		if _, _, err := MakeInvite(who, ttl, made); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("ttl %v: err %v, want bad_request", ttl, err)
		}
	}
	if ttl, err := InviteTTL(0); err != nil || ttl != DefaultInviteTTL {
		t.Errorf("InviteTTL(0) = %v, %v", ttl, err)
	}
}
