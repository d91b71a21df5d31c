package prekey

import (
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// Grow adds fresh one-time keys beyond PoolSize (a node whose unused keys are all handed
// out), they survive a round trip, and no pool grows past MaxPool.
func TestGrowBeyondPool(t *testing.T) {
	id, s := newTestStore(t, PoolSize)
	before := s.OneTimePrekeys()
	o, p, err := s.Grow(id, t0, 30, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(o) != 30 || len(p) != 7 || len(s.OneTimePrekeys()) != PoolSize+30 || len(s.PQOneTimePrekeys()) != PoolSize+7 {
		t.Fatalf("grew by %d/%d to %d/%d", len(o), len(p), len(s.OneTimePrekeys()), len(s.PQOneTimePrekeys()))
	}
	for _, k := range o {
		if slices.ContainsFunc(before, func(b OneTimePrekey) bool { return b.ID() == k.ID() }) {
			t.Fatalf("key id %d reused", k.ID())
		}
	}
	for _, k := range p {
		if err := k.Verify(s.Identity()); err != nil || k.Kind() != OneTime {
			t.Fatalf("grown PQ key: %v", err)
		}
	}
	back, err := UnmarshalStore(s.Marshal())
	if err != nil || len(back.OneTimePrekeys()) != PoolSize+30 {
		t.Fatalf("round trip: %v", err)
	}
	if _, _, err := s.Grow(id, t0, MaxPool, 0); err == nil {
		t.Fatal("grew past MaxPool")
	}
	if _, _, err := s.Grow(id, t0, -1, 0); err == nil {
		t.Fatal("negative growth accepted")
	}
	other, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Grow(other, t0, 1, 1); err == nil {
		t.Fatal("Grow with another identity accepted")
	}
}
