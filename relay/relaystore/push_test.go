package relaystore

import (
	"errors"
	"testing"
	"time"
)

// Registrations survive a restart with their state; the same registration twice changes
// nothing (a dead one stays dead); new bytes under the same id revive it; the limit holds.
func TestPushRegistrationsDurable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	_, mb := newOwner(t, s)
	now := time.UnixMilli(1_800_000_000_000)
	id1, id2, id3 := [16]byte{1}, [16]byte{2}, [16]byte{3}
	for _, id := range [][16]byte{id1, id2} {
		if err := s.PutPush(ctx, mb, id, []byte("sealed-"+string(id[:1])), now, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPush(ctx, mb, id3, []byte("x"), now, 2); !errors.Is(err, ErrPushLimit) {
		t.Fatalf("third registration over a limit of 2: %v", err)
	}
	if err := s.MarkPushDead(ctx, mb, id1, "410 Gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPush(ctx, mb, id1, []byte("sealed-\x01"), now, 2); err != nil {
		t.Fatal(err)
	}
	until := now.Add(time.Hour)
	if err := s.SetPushDND(ctx, mb, until); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	got, err := s.Pushes(mb)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d registrations after restart: %v", len(got), err)
	}
	if !got[0].Dead || got[0].Reason != "410 Gone" || got[1].Dead || !got[0].Created.Equal(now) {
		t.Fatalf("states %+v", got)
	}
	if d, err := s.PushDND(mb); err != nil || !d.Equal(until) {
		t.Fatalf("do-not-disturb %v %v", d, err)
	}
	if err := s.PutPush(ctx, mb, id1, []byte("new bytes"), now, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePush(ctx, mb, id2); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Pushes(mb)
	if len(got) != 1 || got[0].Dead || string(got[0].Sealed) != "new bytes" {
		t.Fatalf("after replace and delete: %+v", got)
	}
	if err := s.SetPushDND(ctx, mb, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.PushDND(mb); !d.IsZero() {
		t.Fatal("do-not-disturb not cleared")
	}
}

// Only a registered mailbox can hold registrations.
func TestPushNeedsMailbox(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.PutPush(ctx, make([]byte, 16), [16]byte{1}, []byte("x"), time.Now(), 4); !errors.Is(err, ErrUnknownMailbox) {
		t.Fatalf("unregistered mailbox: %v", err)
	}
}
