package invite

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json and the fuzz seeds (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vectorSet holds links that must parse to known fields, and links that
// must be refused with a known error.
type vectorSet struct {
	Valid   []validVector   `json:"valid"`
	Invalid []invalidVector `json:"invalid"`
}

// validVector: Link of the inputs gives Link, and Parse of Link gives the
// outputs. Ed25519 signatures are deterministic, so the link is fixed.
type validVector struct {
	Comment string `json:"comment"`
	// Inputs to Link.
	IdentityPrivate string   `json:"identity_private"` // identity.Marshal, hex
	PeerID          string   `json:"peer_id"`
	NameIn          string   `json:"name_in"`
	AddrsIn         []string `json:"addrs_in"`
	RelaysIn        []string `json:"relays_in"`
	Created         int64    `json:"created"`
	// The link and what Parse returns.
	Link     string   `json:"link"`
	Identity string   `json:"identity"` // text form
	Name     string   `json:"name"`
	Addrs    []string `json:"addrs"`
	Relays   []string `json:"relays"`
}

type invalidVector struct {
	Comment string `json:"comment"`
	Link    string `json:"link"`
	Error   string `json:"error"` // "malformed", "bad_signature" or "too_large"
}

var vectorErrors = map[string]error{
	"malformed":     ErrMalformed,
	"bad_signature": ErrBadSignature,
	"too_large":     ErrTooLarge,
}

func loadVectors(tb testing.TB) vectorSet {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	var vs vectorSet
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	if len(vs.Valid) == 0 || len(vs.Invalid) == 0 {
		tb.Fatal("known-answer vectors: a set is empty")
	}
	return vs
}

func strs(ms []ma.Multiaddr) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.String())
	}
	return out
}

// linkVector runs Link on a vector's inputs and fills in its outputs.
func linkVector(tb testing.TB, v validVector) validVector {
	tb.Helper()
	priv, err := hex.DecodeString(v.IdentityPrivate)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := identity.Unmarshal(priv)
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := peer.Decode(v.PeerID)
	if err != nil {
		tb.Fatal(err)
	}
	inv := Invite{PeerID: pid, Name: v.NameIn, Created: time.Unix(v.Created, 0)}
	for _, s := range v.AddrsIn {
		inv.Addrs = append(inv.Addrs, mustAddr(tb, s))
	}
	for _, s := range v.RelaysIn {
		inv.Relays = append(inv.Relays, mustAddr(tb, s))
	}
	if v.Link, err = Link(id, inv); err != nil {
		tb.Fatalf("%s: %v", v.Comment, err)
	}
	got, err := Parse(v.Link)
	if err != nil {
		tb.Fatalf("%s: %v", v.Comment, err)
	}
	v.Identity, v.Name, v.Addrs, v.Relays = got.Identity.String(), got.Name, strs(got.Addrs), strs(got.Relays)
	return v
}

func generateVectors(t *testing.T) vectorSet {
	relay := func(host, label string) string { return host + "/p2p/" + testPeerID(t, label).String() }
	valid := []validVector{
		{
			Comment: "typical: two addresses, two relays, a 64-byte name",
			NameIn:  "Alice Liddell-Hargreaves " + strings.Repeat("é", 18) + "Oxf",
			AddrsIn: []string{"/ip4/203.0.113.7/tcp/4001", "/ip6/2001:db8::7/udp/4001/quic-v1"},
			RelaysIn: []string{
				relay("/ip4/198.51.100.1/tcp/4001", "relay one"),
				relay("/ip4/198.51.100.2/udp/4001/quic-v1", "relay two"),
			},
		},
		{Comment: "bare: no name, addresses or relays"},
		{
			Comment: "normalised: control characters dropped, name cut on a rune boundary, own /p2p/ stripped, circuit address kept",
			NameIn:  "Bob\x1b[0m\n" + strings.Repeat("ü", 29) + "日本",
			AddrsIn: []string{
				"/dns4/bob.example.org/tcp/443/wss/p2p/" + testPeerID(t, "vector 3").String(),
				relay("/ip4/198.51.100.1/tcp/4001", "relay one") + "/p2p-circuit",
			},
			RelaysIn: []string{relay("/dns4/relay.example.net/tcp/443/wss", "relay three")},
		},
		{
			Comment:  "trimmed: 40 addresses, only the first ones kept",
			NameIn:   "Carol",
			RelaysIn: []string{relay("/ip4/198.51.100.1/tcp/4001", "relay one")},
		},
	}
	for i := range 40 {
		valid[3].AddrsIn = append(valid[3].AddrsIn, fmt.Sprintf("/dns6/n%02d.carol.example.org/udp/4001/quic-v1", i))
	}
	var vs vectorSet
	for i, v := range valid {
		label := fmt.Sprintf("vector %d", i+1)
		v.IdentityPrivate = hex.EncodeToString(testIdentityBytes(label))
		v.PeerID = testPeerID(t, label).String()
		v.Created = 1_773_500_000 + int64(i)
		vs.Valid = append(vs.Valid, linkVector(t, v))
	}

	id := testIdentity(t, "vector 1")
	typical := vs.Valid[0].Link
	p := decodeLink(t, typical)
	flip := func(i int) string {
		q := append([]byte(nil), p...)
		q[i] ^= 1
		return encodeLink(q)
	}
	signed := func(mutate func(*rawBody)) string {
		r := validRawBody(t, id)
		mutate(&r)
		return r.signedLink(id)
	}
	rest := strings.TrimPrefix(typical, Scheme)
	vs.Invalid = []invalidVector{
		{"flipped bit in the name", flip(1 + identity.PublicSize + 1 + len(testPeerID(t, "vector 1")) + 3), "bad_signature"},
		{"flipped bit in the signature", flip(len(p) - 1), "bad_signature"},
		{"flipped bit in the created time", flip(len(p) - 64 - 1), "bad_signature"},
		{"flipped bit in the identity's self-signature", flip(identity.PublicSize), "malformed"},
		{"signed by another identity", func() string {
			body := p[:len(p)-64]
			return encodeLink(append(append([]byte(nil), body...), testIdentity(t, "mallory").Sign(Domain, body)...))
		}(), "bad_signature"},
		{"version 2, validly signed", signed(func(r *rawBody) { r.version = 2 }), "malformed"},
		{"address ending in /p2p/, validly signed", signed(func(r *rawBody) {
			r.addrs = [][]byte{mustAddr(t, "/ip4/203.0.113.7/tcp/4001/p2p/"+testPeerID(t, "alice").String()).Bytes()}
		}), "malformed"},
		{"relay without /p2p/, validly signed", signed(func(r *rawBody) { r.relays = [][]byte{mustAddr(t, "/ip4/198.51.100.1/tcp/4001").Bytes()} }), "malformed"},
		{"name with an escape character, validly signed", signed(func(r *rawBody) { r.name = []byte("\x1b[2J") }), "malformed"},
		{"address count beyond the payload, validly signed", signed(func(r *rawBody) { r.addrCount = 255 }), "malformed"},
		{"byte between created and signature, validly signed", signed(func(r *rawBody) { r.trailer = []byte{0} }), "malformed"},
		{"petrel:// form", "petrel://" + rest, "malformed"},
		{"padded", typical + "==", "malformed"},
		{"standard base64 alphabet", "petrel:+/" + rest[2:], "malformed"},
		{"line break inside", typical[:100] + "\n" + typical[100:], "malformed"},
		{"truncated", typical[:len(typical)-10], "malformed"},
		{"1024 bytes", "petrel:" + strings.Repeat("A", 1024-7), "too_large"},
	}
	return vs
}

// writeFuzzSeeds writes each vector's link as a seed of FuzzParse, and its
// payload as a seed of FuzzDecodePayload.
func writeFuzzSeeds(t *testing.T, vs vectorSet) {
	var links []string
	for _, v := range vs.Valid {
		links = append(links, v.Link)
	}
	for _, v := range vs.Invalid {
		links = append(links, v.Link)
	}
	for _, dir := range []string{"testdata/fuzz/FuzzParse", "testdata/fuzz/FuzzDecodePayload"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range links {
		write := func(path, content string) {
			if err := os.WriteFile(path, []byte("go test fuzz v1\n"+content+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join("testdata/fuzz/FuzzParse", fmt.Sprintf("vector%02d", i)), fmt.Sprintf("string(%q)", l))
		if p, err := linkEncoding.DecodeString(strings.TrimPrefix(l, Scheme)); err == nil {
			write(filepath.Join("testdata/fuzz/FuzzDecodePayload", fmt.Sprintf("vector%02d", i)), fmt.Sprintf("[]byte(%q)", p))
		}
	}
}

// TestKnownAnswerVectors: Link of recorded inputs gives the recorded link,
// Parse of it the recorded fields; the recorded bad links fail as recorded.
func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		vs := generateVectors(t)
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, vs)
	}
	vs := loadVectors(t)
	for i, v := range vs.Valid {
		got := linkVector(t, v)
		if got.Link != v.Link {
			t.Errorf("valid %d (%s): Link =\n%s\nwant\n%s", i, v.Comment, got.Link, v.Link)
		}
		inv, err := Parse(v.Link)
		if err != nil {
			t.Errorf("valid %d (%s): %v", i, v.Comment, err)
			continue
		}
		if inv.Identity.String() != v.Identity || inv.PeerID.String() != v.PeerID || inv.Name != v.Name ||
			strings.Join(strs(inv.Addrs), " ") != strings.Join(v.Addrs, " ") ||
			strings.Join(strs(inv.Relays), " ") != strings.Join(v.Relays, " ") ||
			inv.Created.Unix() != v.Created {
			t.Errorf("valid %d (%s): Parse = %+v\nwant %+v", i, v.Comment, inv, v)
		}
		if len(v.Link) > MaxLinkLen {
			t.Errorf("valid %d: link of %d bytes", i, len(v.Link))
		}
	}
	for i, v := range vs.Invalid {
		want, ok := vectorErrors[v.Error]
		if !ok {
			t.Fatalf("invalid %d: unknown error %q", i, v.Error)
		}
		if inv, err := Parse(v.Link); !errors.Is(err, want) {
			t.Errorf("invalid %d (%s): Parse = %+v, %v; want %v", i, v.Comment, inv, err, want)
		}
	}
}
