package invite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// TestRoundTrip: every field survives Link and Parse; Created is kept to the
// second.
func TestRoundTrip(t *testing.T) {
	id := testIdentity(t, "alice")
	inv := realisticInvite(t, id)
	inv.Addrs = append(inv.Addrs, mustAddr(t, "/ip4/198.51.100.1/tcp/4001/p2p/"+testPeerID(t, "relay one").String()+"/p2p-circuit"))
	link, err := Link(id, inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	want := inv
	want.Created = time.Unix(inv.Created.Unix(), 0)
	sameInvite(t, got, &want)
	if got.Created.Nanosecond() != 0 || got.Created.Location() != time.UTC {
		t.Errorf("created %v: want whole seconds in UTC", got.Created)
	}
}

// TestRoundTripEmpty: an invite with no name, addresses or relays.
func TestRoundTripEmpty(t *testing.T) {
	id := testIdentity(t, "bare")
	inv := Invite{PeerID: testPeerID(t, "bare"), Created: time.Unix(0, 0)}
	link, err := Link(id, inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	inv.Identity = id.Public()
	sameInvite(t, got, &inv)
	if got.Addrs != nil || got.Relays != nil {
		t.Errorf("empty lists parsed as %#v, %#v", got.Addrs, got.Relays)
	}
}

// TestRealisticLinkUnder1KiB: two addresses, two relays and a 64-byte name
// make a link well under 1 KiB, with nothing dropped.
func TestRealisticLinkUnder1KiB(t *testing.T) {
	id := testIdentity(t, "alice")
	inv := realisticInvite(t, id)
	if len(inv.Name) != MaxNameLen {
		t.Fatalf("test name is %d bytes", len(inv.Name))
	}
	link, err := Link(id, inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical link: %d bytes (payload %d bytes)", len(link), len(decodeLink(t, link)))
	if len(link) >= 1024 {
		t.Fatalf("link of %d bytes", len(link))
	}
	got, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Addrs) != 2 || len(got.Relays) != 2 || got.Name != inv.Name {
		t.Fatalf("something was dropped: %d addrs, %d relays, name %q", len(got.Addrs), len(got.Relays), got.Name)
	}
}

// TestTamperedPayloadRefused: changing any bit pattern of any payload byte
// makes Parse fail; no alteration yields another valid invite.
func TestTamperedPayloadRefused(t *testing.T) {
	id := testIdentity(t, "alice")
	link, err := Link(id, realisticInvite(t, id))
	if err != nil {
		t.Fatal(err)
	}
	p := decodeLink(t, link)
	for i := range p {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			q := append([]byte(nil), p...)
			q[i] ^= x
			if inv, err := Parse(encodeLink(q)); err == nil {
				t.Fatalf("byte %d ^ %#02x: accepted as %+v", i, x, inv)
			}
		}
	}
	// Dropping or adding bytes at either end.
	for _, q := range [][]byte{p[1:], p[:len(p)-1], append(append([]byte(nil), p...), 0), append([]byte{Version}, p...)} {
		if _, err := Parse(encodeLink(q)); err == nil {
			t.Fatalf("payload of %d bytes (was %d) accepted", len(q), len(p))
		}
	}
}

// TestTamperedLinkTextRefused: changing any character of the link text is
// refused, including in the last character's unused bits.
func TestTamperedLinkTextRefused(t *testing.T) {
	id := testIdentity(t, "alice")
	link, err := Link(id, realisticInvite(t, id))
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range link {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, link[i])+1)%64], '=', '+', '/', ' '} {
			if c == link[i] {
				continue
			}
			bad := link[:i] + string(c) + link[i+1:]
			if _, err := Parse(bad); err == nil {
				t.Fatalf("link with byte %d changed to %q accepted", i, c)
			}
		}
	}
}

// TestWrongIdentitySignatureRefused: an invite signed by someone other than
// the identity it names is refused, and Link refuses to make one.
func TestWrongIdentitySignatureRefused(t *testing.T) {
	alice, mallory := testIdentity(t, "alice"), testIdentity(t, "mallory")
	inv := realisticInvite(t, alice)
	if _, err := Link(mallory, inv); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Link with another identity: %v, want ErrInvalid", err)
	}
	body, err := encodeBody(&inv)
	if err != nil {
		t.Fatal(err)
	}
	forged := encodeLink(append(body, mallory.Sign(Domain, body)...))
	if _, err := Parse(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("invite naming alice signed by mallory: %v, want ErrBadSignature", err)
	}
	genuine := encodeLink(append(body, alice.Sign(Domain, body)...))
	if _, err := Parse(genuine); err != nil {
		t.Fatalf("the same body signed by alice: %v", err)
	}
}

// TestSignatureDomainSeparated: alice's signature over the same bytes in
// another domain is not an invite signature.
func TestSignatureDomainSeparated(t *testing.T) {
	alice := testIdentity(t, "alice")
	inv := realisticInvite(t, alice)
	body, err := encodeBody(&inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []identity.Domain{identity.DomainIdentityKey, identity.DomainSignedPrekey, identity.DomainPQPrekey, ""} {
		if _, err := Parse(encodeLink(append(body, alice.Sign(d, body)...))); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signature in domain %q: %v, want ErrBadSignature", d, err)
		}
	}
}

// TestOversizedTrimmed: too many addresses are dropped from the end first,
// then relays; what is kept is a prefix in order, and one more entry would
// not have fitted.
func TestOversizedTrimmed(t *testing.T) {
	id := testIdentity(t, "alice")
	base := realisticInvite(t, id)
	var many, relays []ma.Multiaddr
	for i := range 60 {
		many = append(many, mustAddr(t, "/dns4/node-"+strings.Repeat("x", i%7)+"."+string(rune('a'+i%26))+".example.org/tcp/4001"))
	}
	for i := range 20 {
		relays = append(relays, mustAddr(t, "/dns4/relay"+string(rune('a'+i))+".example.net/udp/443/quic-v1/p2p/"+testPeerID(t, "relay "+string(rune('a'+i))).String()))
	}
	for _, tc := range []struct {
		name          string
		addrs, relays []ma.Multiaddr
		allRelays     bool
	}{
		{"addresses dropped, relays kept", many, relays[:2], true},
		{"every address and some relays dropped", many, relays, false},
		{"relays only", nil, relays, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := base
			inv.Addrs, inv.Relays = tc.addrs, tc.relays
			link, err := Link(id, inv)
			if err != nil {
				t.Fatal(err)
			}
			if len(link) > MaxLinkLen {
				t.Fatalf("link of %d bytes", len(link))
			}
			got, err := Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			sameAddrs(t, "addrs", got.Addrs, tc.addrs[:len(got.Addrs)])
			sameAddrs(t, "relays", got.Relays, tc.relays[:len(got.Relays)])
			if tc.allRelays != (len(got.Relays) == len(tc.relays)) {
				t.Fatalf("kept %d of %d relays", len(got.Relays), len(tc.relays))
			}
			if len(got.Relays) < len(tc.relays) && len(got.Addrs) != 0 {
				t.Fatalf("dropped a relay but kept %d addresses", len(got.Addrs))
			}
			// Maximal: one more entry would not fit.
			more := *got
			if len(got.Relays) < len(tc.relays) {
				more.Relays = tc.relays[:len(got.Relays)+1]
			} else {
				more.Addrs = tc.addrs[:len(got.Addrs)+1]
			}
			body, err := encodeBody(&more)
			if err != nil {
				t.Fatal(err)
			}
			if n := linkLen(len(body) + 64); n <= MaxLinkLen {
				t.Fatalf("dropped too much: one more entry gives a link of %d bytes", n)
			}
			t.Logf("kept %d/%d addresses and %d/%d relays in %d bytes", len(got.Addrs), len(tc.addrs), len(got.Relays), len(tc.relays), len(link))
		})
	}
}

// TestBareInviteAlwaysFits: an invite without addresses and relays fits in a
// link even with the longest peer ID and name, so Link's ErrTooLarge cannot
// happen for a valid invite; and maxPayloadLen is exactly what MaxLinkLen holds.
func TestBareInviteAlwaysFits(t *testing.T) {
	// version, identity, peer id (1+255), name (1+64), two zero counts,
	// created, signature.
	worst := 1 + identity.PublicSize + 1 + maxFieldLen + 1 + MaxNameLen + 1 + 1 + 8 + 64
	if n := linkLen(worst); n > MaxLinkLen {
		t.Fatalf("the largest bare invite is a link of %d bytes", n)
	}
	if maxPayloadLen != 762 || linkLen(maxPayloadLen) != MaxLinkLen || linkLen(maxPayloadLen+1) <= MaxLinkLen {
		t.Fatalf("maxPayloadLen %d does not match MaxLinkLen", maxPayloadLen)
	}
}

// TestNameSanitized: Link cuts names on a rune boundary and drops what Parse
// would refuse.
func TestNameSanitized(t *testing.T) {
	id := testIdentity(t, "alice")
	for _, tc := range []struct{ in, want string }{
		{strings.Repeat("é", 30) + "€é", strings.Repeat("é", 30) + "€"}, // 60+3 = 63; é would make 65
		{strings.Repeat("a", 63) + "é", strings.Repeat("a", 63)},
		{strings.Repeat("a", 64) + "b", strings.Repeat("a", 64)},
		{"Bob\x1b[31m\r\n\u0085\x7f", "Bob[31m"},
		{"B\xffo\xc3b", "Bob"},
		{"a\uFFFDb", "a\uFFFDb"},                                                                     // a real U+FFFD is kept
		{"\U0001F469\u200d\U0001F469\u200d\U0001F467", "\U0001F469\u200d\U0001F469\u200d\U0001F467"}, // joiners are not control characters
	} {
		inv := realisticInvite(t, id)
		inv.Name = tc.in
		link, err := Link(id, inv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != tc.want {
			t.Errorf("name %q became %q, want %q", tc.in, got.Name, tc.want)
		}
	}
}

// TestLinkAddresses: a trailing /p2p/ of the inviter is stripped; any other
// peer's is refused; relays must name their peer.
func TestLinkAddresses(t *testing.T) {
	id := testIdentity(t, "alice")
	inv := realisticInvite(t, id)
	inv.Addrs = mustAddrs(t, "/ip4/203.0.113.7/tcp/4001/p2p/"+inv.PeerID.String())
	link, err := Link(id, inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	sameAddrs(t, "addrs", got.Addrs, mustAddrs(t, "/ip4/203.0.113.7/tcp/4001"))

	inv.Addrs = mustAddrs(t, "/ip4/203.0.113.7/tcp/4001/p2p/"+testPeerID(t, "bob").String())
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Errorf("address of another peer: %v, want ErrInvalid", err)
	}
	inv.Addrs = nil
	inv.Relays = mustAddrs(t, "/ip4/198.51.100.1/tcp/4001")
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Errorf("relay without /p2p/: %v, want ErrInvalid", err)
	}
	inv.Relays = []ma.Multiaddr{nil}
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty relay: %v, want ErrInvalid", err)
	}
}

// TestLinkRefusesInvalid: inputs Link cannot encode.
func TestLinkRefusesInvalid(t *testing.T) {
	id := testIdentity(t, "alice")
	for _, tc := range []struct {
		name   string
		mutate func(*Invite)
	}{
		{"no peer id", func(inv *Invite) { inv.PeerID = "" }},
		{"peer id not a multihash", func(inv *Invite) { inv.PeerID = "not a multihash" }},
		{"peer id: identity multihash of no key", func(inv *Invite) { inv.PeerID = peer.ID([]byte{0x00, 0x03, 1, 2, 3}) }},
		{"peer id: inlined key too long to inline", func(inv *Invite) { inv.PeerID = peer.ID(inlinedECDSAPeerID(t)) }},
		{"peer id: sha1 multihash", func(inv *Invite) { inv.PeerID = peer.ID(append([]byte{0x11, 0x14}, make([]byte, 20)...)) }},
		{"zero created", func(inv *Invite) { inv.Created = time.Time{} }},
		{"created before 1970", func(inv *Invite) { inv.Created = time.Unix(-1, 0) }},
		{"created after 9999", func(inv *Invite) { inv.Created = time.Unix(maxCreated+1, 0) }},
	} {
		inv := realisticInvite(t, id)
		tc.mutate(&inv)
		if link, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Link = %q, %v, want ErrInvalid", tc.name, link, err)
		}
	}
	if _, err := Link(nil, realisticInvite(t, id)); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil signer: %v", err)
	}
	// A SHA-256 peer ID (as for an RSA key) is a valid peer ID.
	inv := realisticInvite(t, id)
	inv.PeerID = peer.ID(append([]byte{0x12, 0x20}, seeded("rsa peer")...))
	if _, err := Link(id, inv); err != nil {
		t.Errorf("SHA-256 peer ID: %v", err)
	}
}

// TestParseLinkForm: white space around a link is ignored; anything but the
// exact scheme and unpadded base64url is refused; overlong input is refused
// before it is decoded.
func TestParseLinkForm(t *testing.T) {
	id := testIdentity(t, "alice")
	link, err := Link(id, realisticInvite(t, id))
	if err != nil {
		t.Fatal(err)
	}
	rest := strings.TrimPrefix(link, Scheme)
	for _, ok := range []string{" " + link, "\n\t" + link + "\r\n", link + strings.Repeat(" ", 2000)} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%.20q…): %v", ok, err)
		}
	}
	for _, tc := range []struct {
		link string
		want error
	}{
		{"petrel://" + rest, ErrMalformed},
		{"PETREL:" + rest, ErrMalformed},
		{"Petrel:" + rest, ErrMalformed},
		{"petrel: " + rest, ErrMalformed},
		{rest, ErrMalformed},
		{"petrel:" + rest + "==", ErrMalformed},
		{"petrel:" + rest[:len(rest)/2] + "\n" + rest[len(rest)/2:], ErrMalformed},
		{"petrel:", ErrMalformed},
		{"", ErrMalformed},
		{"petrel:" + strings.Repeat("A", MaxLinkLen), ErrTooLarge},
	} {
		if _, err := Parse(tc.link); !errors.Is(err, tc.want) {
			t.Errorf("Parse(%.30q…) = %v, want %v", tc.link, err, tc.want)
		}
	}
}
