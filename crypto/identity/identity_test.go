package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustGenerate(tb testing.TB) *Identity {
	tb.Helper()
	id, err := Generate()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func TestMarshalRoundTrip(t *testing.T) {
	id := mustGenerate(t)
	b := id.Marshal()
	if len(b) != PrivateSize {
		t.Fatalf("len = %d", len(b))
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Public().Equal(id.Public()) || !bytes.Equal(back.Public().Bytes(), id.Public().Bytes()) {
		t.Fatal("public identity changed across Marshal/Unmarshal")
	}
	if back.UserID() != id.UserID() {
		t.Fatal("UserID changed across Marshal/Unmarshal")
	}
	msg := []byte("m")
	if !id.Public().Verify(DomainSignedPrekey, msg, back.Sign(DomainSignedPrekey, msg)) {
		t.Fatal("restored identity signs differently")
	}
	for _, bad := range [][]byte{nil, b[:PrivateSize-1], append(bytes.Clone(b), 0), append([]byte{2}, b[1:]...)} {
		if _, err := Unmarshal(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%d bytes) err = %v", len(bad), err)
		}
	}
}

func TestPublicRoundTrip(t *testing.T) {
	p := mustGenerate(t).Public()
	q, err := ParsePublic(p.Bytes())
	if err != nil || !q.Equal(p) {
		t.Fatalf("ParsePublic: %v", err)
	}
	s := p.String()
	if !strings.HasPrefix(s, TextPrefix) {
		t.Fatalf("text form %q lacks prefix", s)
	}
	q, err = ParsePublicText(s)
	if err != nil || !q.Equal(p) {
		t.Fatalf("ParsePublicText: %v", err)
	}
	var r PublicIdentity
	if err := json.Unmarshal(must(json.Marshal(p)), &r); err != nil || !r.Equal(p) {
		t.Fatalf("JSON round trip: %v", err)
	}
	for _, bad := range []string{s[len(TextPrefix):], "petrel-spk1:" + s[len(TextPrefix):], s + "A", s[:len(s)-1]} {
		if _, err := ParsePublicText(bad); err == nil {
			t.Errorf("ParsePublicText(%q) accepted", bad)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestUserIDStable: the ID is 40 lowercase base32 characters, stable for an
// identity and distinct between identities.
func TestUserIDStable(t *testing.T) {
	a, b := mustGenerate(t), mustGenerate(t)
	id := a.UserID()
	if len(id) != 40 || strings.Trim(string(id), "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Fatalf("UserID %q has the wrong form", id)
	}
	if a.Public().UserID() != id || b.UserID() == id {
		t.Fatal("UserID not stable or not distinct")
	}
}

// TestSecretsNeverPrint: no formatting verb or encoder prints private key
// material.
func TestSecretsNeverPrint(t *testing.T) {
	id := mustGenerate(t)
	secret := id.Marshal()[1:]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out := fmt.Sprintf(verb, id)
		for _, enc := range []string{fmt.Sprintf("%x", secret[:8]), fmt.Sprintf("%v", secret[:8]), string(secret[:8])} {
			if strings.Contains(out, enc) {
				t.Errorf("%s prints secret bytes: %s", verb, out)
			}
		}
	}
	if _, err := json.Marshal(id); err == nil {
		t.Error("json.Marshal of a private identity succeeded")
	}
}

// TestIdentityKeyBinding: a public identity whose X25519 key is not signed by
// its Ed25519 key, or whose X25519 key is low-order, is refused.
func TestIdentityKeyBinding(t *testing.T) {
	a, b := mustGenerate(t), mustGenerate(t)
	pa, pb := a.Public().Bytes(), b.Public().Bytes()
	swapped := bytes.Clone(pa)
	copy(swapped[33:65], pb[33:65]) // b's DH key under a's signing key
	if _, err := ParsePublic(swapped); !errors.Is(err, ErrBadSignature) {
		t.Errorf("substituted DH key: err = %v", err)
	}
	for i := range pa {
		f := bytes.Clone(pa)
		f[i] ^= 0x10
		if _, err := ParsePublic(f); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	low := bytes.Clone(pa)
	copy(low[33:65], make([]byte, 32))
	if _, err := ParsePublic(low); !errors.Is(err, ErrMalformed) {
		t.Errorf("low-order DH key: err = %v", err)
	}
}

// TestSignatureDomainsSeparate: a signature under one domain does not verify
// under another.
func TestSignatureDomainsSeparate(t *testing.T) {
	id := mustGenerate(t)
	msg := []byte("object")
	sig := id.Sign(DomainSignedPrekey, msg)
	for _, d := range []Domain{DomainIdentityKey, DomainPQPrekey, DomainMailbox, DomainDeviceList, ""} {
		if id.Public().Verify(d, msg, sig) {
			t.Errorf("signature verified under domain %q", d)
		}
	}
}
