package invite

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// expiringInvite is realisticInvite with an invite id and an expiry (a version 2 link).
func expiringInvite(tb testing.TB) (Invite, []byte) {
	tb.Helper()
	inv := realisticInvite(tb, testIdentity(tb, "alice"))
	inv.Created = inv.Created.Truncate(time.Second)
	id := bytes.Repeat([]byte{0xA7}, IDSize)
	inv.ID = id
	inv.Expires = inv.Created.Add(7 * 24 * time.Hour).Truncate(time.Second)
	return inv, id
}

func TestExpiringRoundTrip(t *testing.T) {
	inv, id := expiringInvite(t)
	link, err := Link(testIdentity(t, "alice"), inv)
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
	sameInvite(t, got, &inv)
	if !bytes.Equal(got.ID, id) || !got.Expires.Equal(inv.Expires) {
		t.Fatalf("id %x expires %v, want %x %v", got.ID, got.Expires, id, inv.Expires)
	}
	if p := decodeLink(t, link); p[0] != Version2 {
		t.Fatalf("an expiring invite has version %d, want %d", p[0], Version2)
	}
	if got.Expired(inv.Expires.Add(-time.Second)) || !got.Expired(inv.Expires) {
		t.Fatal("Expired is wrong at the boundary")
	}
}

// An attacker who pushes the expiry of a link further (or removes its invite id) breaks
// its signature.
func TestEditedExpiryRefused(t *testing.T) {
	inv, _ := expiringInvite(t)
	link, err := Link(testIdentity(t, "alice"), inv)
	if err != nil {
		t.Fatal(err)
	}
	p := decodeLink(t, link)
	sigAt := len(p) - ed25519.SignatureSize
	expAt := sigAt - 8
	exp := binary.BigEndian.Uint64(p[expAt:sigAt])
	binary.BigEndian.PutUint64(p[expAt:sigAt], exp+365*24*3600)
	if _, err := Parse(encodeLink(p)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a later expiry: %v, want ErrBadSignature", err)
	}

	// Another invite id (to revive a revoked one under a live id).
	p = decodeLink(t, link)
	p[expAt-1] ^= 1
	if _, err := Parse(encodeLink(p)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another invite id: %v, want ErrBadSignature", err)
	}

	// Cut the id and expiry away and call it version 1: the signature covered them.
	p = decodeLink(t, link)
	q := append([]byte{Version}, p[1:expAt-IDSize]...)
	q = append(q, p[sigAt:]...)
	if _, err := Parse(encodeLink(q)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("the id and expiry stripped: %v, want ErrBadSignature", err)
	}
}

// A version 1 link (the earlier release) stays valid: no id, no expiry.
func TestVersion1StillValid(t *testing.T) {
	inv := realisticInvite(t, testIdentity(t, "alice"))
	link, err := Link(testIdentity(t, "alice"), inv)
	if err != nil {
		t.Fatal(err)
	}
	if p := decodeLink(t, link); p[0] != Version {
		t.Fatalf("version %d", p[0])
	}
	got, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != nil || !got.Expires.IsZero() || got.Expired(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a version 1 link: id %x expires %v", got.ID, got.Expires)
	}
}

func TestLinkRefusesBadExpiry(t *testing.T) {
	id := testIdentity(t, "alice")
	inv, _ := expiringInvite(t)
	inv.ID = inv.ID[:5]
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a short id: %v", err)
	}
	inv, _ = expiringInvite(t)
	inv.Expires = inv.Created.Add(-time.Second)
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an expiry before creation: %v", err)
	}
	inv, _ = expiringInvite(t)
	inv.Expires = time.Time{}
	if _, err := Link(id, inv); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an id without expiry: %v", err)
	}
}
