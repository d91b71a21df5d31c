package invite

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	ic "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// rawBody lays out a version 1 body field by field, with no checks, so tests
// can sign bodies that Link would never write.
type rawBody struct {
	version  byte
	identity []byte
	peerID   []byte
	name     []byte
	addrs    [][]byte
	relays   [][]byte
	// addrCount and relayCount override len(addrs) and len(relays) when >= 0.
	addrCount, relayCount int
	created               uint64
	trailer               []byte
}

func validRawBody(tb testing.TB, id *identity.Identity) rawBody {
	tb.Helper()
	return rawBody{
		version:    Version,
		identity:   id.Public().Bytes(),
		peerID:     []byte(testPeerID(tb, "alice")),
		name:       []byte("Alice"),
		addrs:      [][]byte{mustAddr(tb, "/ip4/203.0.113.7/tcp/4001").Bytes()},
		relays:     [][]byte{mustAddr(tb, "/ip4/198.51.100.1/tcp/4001/p2p/"+testPeerID(tb, "relay one").String()).Bytes()},
		addrCount:  -1,
		relayCount: -1,
		created:    1_773_500_000,
	}
}

func (r rawBody) bytes() []byte {
	b := []byte{r.version}
	b = append(b, r.identity...)
	b = append(append(b, byte(len(r.peerID))), r.peerID...)
	b = append(append(b, byte(len(r.name))), r.name...)
	list := func(ms [][]byte, count int) {
		if count < 0 {
			count = len(ms)
		}
		b = append(b, byte(count))
		for _, m := range ms {
			b = append(append(b, byte(len(m))), m...)
		}
	}
	list(r.addrs, r.addrCount)
	list(r.relays, r.relayCount)
	b = binary.BigEndian.AppendUint64(b, r.created)
	return append(b, r.trailer...)
}

// signedLink signs the body properly, so only the parser's checks can refuse it.
func (r rawBody) signedLink(id *identity.Identity) string {
	body := r.bytes()
	return encodeLink(append(body, id.Sign(Domain, body)...))
}

// inlinedECDSAPeerID is an identity multihash of an ECDSA P-256 key (91
// bytes): a well-formed multihash holding a valid key, but not that key's
// peer ID, which libp2p makes with SHA-256 for keys over 42 bytes.
func inlinedECDSAPeerID(tb testing.TB) []byte {
	tb.Helper()
	_, pub, err := ic.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := ic.MarshalPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) <= 42 || len(b) > 127 {
		tb.Fatalf("ECDSA key of %d bytes", len(b))
	}
	return append([]byte{0x00, byte(len(b))}, b...)
}

// TestValidRawBody: the test's layout is the package's layout.
func TestValidRawBody(t *testing.T) {
	id := testIdentity(t, "alice")
	inv, err := Parse(validRawBody(t, id).signedLink(id))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Name != "Alice" || len(inv.Addrs) != 1 || len(inv.Relays) != 1 || inv.Created.Unix() != 1_773_500_000 {
		t.Fatalf("parsed %+v", inv)
	}
}

// TestSignedMalformedRefused: a body that breaks a rule of the format is
// refused as malformed even under a valid signature by its identity.
func TestSignedMalformedRefused(t *testing.T) {
	id := testIdentity(t, "alice")
	p2pOnly := mustAddr(t, "/p2p/"+testPeerID(t, "relay one").String()).Bytes()
	for _, tc := range []struct {
		name   string
		mutate func(*rawBody)
	}{
		{"version 2", func(r *rawBody) { r.version = 2 }},
		{"version 0", func(r *rawBody) { r.version = 0 }},
		{"name too long", func(r *rawBody) { r.name = []byte(strings.Repeat("a", MaxNameLen+1)) }},
		{"name not UTF-8", func(r *rawBody) { r.name = []byte("Al\xffce") }},
		{"name with escape", func(r *rawBody) { r.name = []byte("Al\x1b[2Jice") }},
		{"name with NUL", func(r *rawBody) { r.name = []byte("Al\x00ice") }},
		{"name with C1 control", func(r *rawBody) { r.name = []byte("Al\u009bice") }},
		{"empty peer id", func(r *rawBody) { r.peerID = nil }},
		{"peer id not a multihash", func(r *rawBody) { r.peerID = []byte{0xff, 0xff} }},
		{"peer id identity hash of garbage", func(r *rawBody) { r.peerID = []byte{0x00, 0x04, 1, 2, 3, 4} }},
		{"peer id sha1", func(r *rawBody) { r.peerID = append([]byte{0x11, 0x14}, make([]byte, 20)...) }},
		{"peer id sha256 short", func(r *rawBody) { r.peerID = append([]byte{0x12, 0x10}, make([]byte, 16)...) }},
		{"peer id inlining a key too long to inline", func(r *rawBody) { r.peerID = inlinedECDSAPeerID(t) }},
		{"address ends in /p2p/", func(r *rawBody) {
			r.addrs = [][]byte{mustAddr(t, "/ip4/203.0.113.7/tcp/4001/p2p/"+testPeerID(t, "alice").String()).Bytes()}
		}},
		{"relay without /p2p/", func(r *rawBody) { r.relays = [][]byte{mustAddr(t, "/ip4/198.51.100.1/tcp/4001").Bytes()} }},
		{"empty address", func(r *rawBody) { r.addrs = [][]byte{{}} }},
		{"address garbage", func(r *rawBody) { r.addrs = [][]byte{{0xde, 0xad, 0xbe, 0xef}} }},
		{"address with trailing byte", func(r *rawBody) { r.addrs = [][]byte{append(mustAddr(t, "/ip4/203.0.113.7/tcp/4001").Bytes(), 0)} }},
		{"address: non-minimal varint code", func(r *rawBody) { r.addrs = [][]byte{{0x84, 0x00, 203, 0, 113, 7}} }},
		{"relay of /p2p/ then garbage", func(r *rawBody) { r.relays = [][]byte{append(p2pOnly, 0xff)} }},
		{"address count too large", func(r *rawBody) { r.addrCount = 200 }},
		{"address count too small", func(r *rawBody) { r.addrCount = 0 }},
		{"relay count too large", func(r *rawBody) { r.relayCount = 2 }},
		{"created negative", func(r *rawBody) { r.created = 1 << 63 }},
		{"created after 9999", func(r *rawBody) { r.created = maxCreated + 1 }},
		{"trailing byte", func(r *rawBody) { r.trailer = []byte{0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRawBody(t, id)
			tc.mutate(&r)
			inv, err := Parse(r.signedLink(id))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", inv, err)
			}
			t.Log(err)
		})
	}
}

// TestBadIdentityRefused: a public identity whose self-signature fails is
// malformed, whatever signs the invite.
func TestBadIdentityRefused(t *testing.T) {
	id := testIdentity(t, "alice")
	r := validRawBody(t, id)
	r.identity[len(r.identity)-1] ^= 1 // the identity's own signature
	if _, err := Parse(r.signedLink(id)); !errors.Is(err, ErrMalformed) || !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("Parse = %v, want ErrMalformed wrapping identity.ErrBadSignature", err)
	}
}

// TestDecodePayloadBounds: decodePayload refuses payloads larger than a link
// can carry and shorter than a signature.
func TestDecodePayloadBounds(t *testing.T) {
	if _, _, _, err := decodePayload(make([]byte, maxPayloadLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized payload: %v", err)
	}
	for _, n := range []int{0, 1, 63, 64, 65} {
		if _, _, _, err := decodePayload(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("payload of %d zero bytes: %v", n, err)
		}
	}
}
