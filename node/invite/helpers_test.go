package invite

import (
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// seeded returns 32 bytes derived from a label, for deterministic keys.
func seeded(label string) []byte {
	h := sha256.Sum256([]byte("petrel invite test: " + label))
	return h[:]
}

// testIdentityBytes is the private identity named by label.
func testIdentityBytes(label string) []byte {
	b := []byte{identity.Version}
	b = append(b, seeded(label+" ed25519")...)
	return append(b, seeded(label+" x25519")...)
}

func testIdentity(tb testing.TB, label string) *identity.Identity {
	tb.Helper()
	id, err := identity.Unmarshal(testIdentityBytes(label))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// testPeerID is the libp2p Ed25519 peer ID named by label.
func testPeerID(tb testing.TB, label string) peer.ID {
	tb.Helper()
	sk, err := ic.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seeded(label + " libp2p")))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func mustAddr(tb testing.TB, s string) ma.Multiaddr {
	tb.Helper()
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		tb.Fatalf("%s: %v", s, err)
	}
	return m
}

func mustAddrs(tb testing.TB, ss ...string) []ma.Multiaddr {
	tb.Helper()
	var out []ma.Multiaddr
	for _, s := range ss {
		out = append(out, mustAddr(tb, s))
	}
	return out
}

// realisticInvite: two addresses, two relays and a name of the full 64 bytes.
func realisticInvite(tb testing.TB, id *identity.Identity) Invite {
	tb.Helper()
	return Invite{
		Identity: id.Public(),
		PeerID:   testPeerID(tb, "alice"),
		Name:     "Alice Liddell-Hargreaves " + strings.Repeat("é", 18) + "Oxf", // 64 bytes
		Addrs: mustAddrs(tb,
			"/ip4/203.0.113.7/tcp/4001",
			"/ip6/2001:db8::7/udp/4001/quic-v1",
		),
		Relays: mustAddrs(tb,
			"/ip4/198.51.100.1/tcp/4001/p2p/"+testPeerID(tb, "relay one").String(),
			"/ip4/198.51.100.2/udp/4001/quic-v1/p2p/"+testPeerID(tb, "relay two").String(),
		),
		Created: time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC),
	}
}

// sameInvite reports the first difference between two invites.
func sameInvite(tb testing.TB, got, want *Invite) {
	tb.Helper()
	if !got.Identity.Equal(want.Identity) {
		tb.Errorf("identity %v, want %v", got.Identity, want.Identity)
	}
	if got.PeerID != want.PeerID {
		tb.Errorf("peer id %v, want %v", got.PeerID, want.PeerID)
	}
	if got.Name != want.Name {
		tb.Errorf("name %q, want %q", got.Name, want.Name)
	}
	sameAddrs(tb, "addrs", got.Addrs, want.Addrs)
	sameAddrs(tb, "relays", got.Relays, want.Relays)
	if !got.Created.Equal(want.Created) {
		tb.Errorf("created %v, want %v", got.Created, want.Created)
	}
}

func sameAddrs(tb testing.TB, what string, got, want []ma.Multiaddr) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			tb.Errorf("%s[%d]: %v, want %v", what, i, got[i], want[i])
		}
	}
}

func decodeLink(tb testing.TB, link string) []byte {
	tb.Helper()
	p, err := linkEncoding.DecodeString(strings.TrimPrefix(link, Scheme))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func encodeLink(p []byte) string { return Scheme + linkEncoding.EncodeToString(p) }
