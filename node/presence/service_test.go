package presence

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// storedLastSeen reads pr/<cid> from st: the value and whether it is there.
func storedLastSeen(t *testing.T, st *store.Store, cid string) (int64, bool) {
	t.Helper()
	var v []byte
	err := st.View(func(tx *store.Tx) error {
		var err error
		v, err = tx.Get(kLastSeen(cid))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		t.Fatalf("pr/%s holds %q, not a decimal time", cid, v)
	}
	return n, true
}

// A contact's last seen time is shown on its presence frames, kept across a restart
// (saved at shutdown under pr/<contact id>, in decimal ms), and forgotten, in memory and
// on disk, when the contact turns its presence off.
func TestLastSeenOutlivesARestartAndHiddenForgetsIt(t *testing.T) {
	opts := Options{Heartbeat: time.Hour, Timeout: time.Hour}
	alice, bob := startLive(t, "alice", opts, nil), startLive(t, "bob", opts, nil)
	bobAtAlice, _ := befriend(alice, bob)
	befriend(bob, alice)
	frames, cancel := alice.frames.Subscribe(alice.live.OnlineFrames())
	before := time.Now().UnixMilli()
	bob.live.sendTo([]peer.ID{alice.h.ID()}, &wire.Live{Type: wire.LiveHeartbeat})
	f := presenceOf(t, frames, bob.uid, api.PresenceOnline, "bob's heartbeat")
	cancel()
	if f.LastSeen == nil || *f.LastSeen < before {
		t.Fatalf("online frame with last_seen %v; want a time from the heartbeat on", f.LastSeen)
	}
	seen := *f.LastSeen

	// Bob's service is stopped while alice restarts: nothing from him (his answer to her
	// first beat included) can stand in for the time she kept.
	bob.stop()
	alice.stop()
	st := openStore(t, alice.dir)
	got, ok := storedLastSeen(t, st, bobAtAlice)
	st.Close()
	// The saved time is the last heartbeat's: the one that showed bob online, or a later
	// one (the greeting on the new connection may come a millisecond after it).
	if !ok || got < seen {
		t.Fatalf("pr/%s after shutdown: %d %v; want %d or later", bobAtAlice, got, ok, seen)
	}
	seen = got
	alice.run(t, opts, nil)
	if got := alice.live.LastSeen(bobAtAlice); got == nil || *got != seen {
		if got != nil {
			t.Fatalf("last seen after a restart: %d; want %d", *got, seen)
		}
		t.Fatalf("last seen after a restart: none; want %d", seen)
	}

	frames, cancel = alice.frames.Subscribe(alice.live.OnlineFrames())
	defer cancel()
	bob.run(t, opts, nil)
	bob.live.sendTo([]peer.ID{alice.h.ID()}, &wire.Live{Type: wire.LiveHeartbeat})
	presenceOf(t, frames, bob.uid, api.PresenceOnline, "bob's heartbeat after the restart")
	bob.live.SetHidden(true)
	// The offline frame follows the forgetting, store write included.
	if f := presenceOf(t, frames, bob.uid, api.PresenceOffline, "bob turns presence off"); f.LastSeen != nil {
		t.Fatalf("offline frame after bob hid: last_seen %d; want none", *f.LastSeen)
	}
	if got := alice.live.LastSeen(bobAtAlice); got != nil {
		t.Fatalf("alice still knows when bob was last seen: %d", *got)
	}
	if _, ok := storedLastSeen(t, alice.st, bobAtAlice); ok {
		t.Fatal("bob's last seen time is still in alice's store")
	}
}

// With our presence set to nobody we see nobody's: a contact's heartbeats show nothing
// and record no last seen time. Typing still comes through, and the contact's typing
// signal, sent after its heartbeats on the same stream, is the proof they were read.
func TestHiddenSeesNobody(t *testing.T) {
	opts := Options{Heartbeat: time.Hour, Timeout: time.Hour}
	alice := startLive(t, "alice", opts, func(c *Config) { c.Hidden = func() bool { return true } })
	bob := startLive(t, "bob", opts, nil)
	bobAtAlice, _ := befriend(alice, bob)
	_, conv := befriend(bob, alice)
	frames, cancel := alice.frames.Subscribe(alice.live.OnlineFrames())
	defer cancel()
	for range 3 {
		bob.live.sendTo([]peer.ID{alice.h.ID()}, &wire.Live{Type: wire.LiveHeartbeat})
	}
	if err := bob.live.Typing(context.Background(), conv, api.TypingStart); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(wait.Default)
	for done := false; !done; {
		select {
		case f := <-frames:
			var p api.TypingFrame
			_ = json.Unmarshal(f, &p)
			switch {
			case p.Type == api.FramePresence:
				t.Fatalf("alice, hidden, was shown bob's presence: %s", f)
			case p.Type == api.FrameTyping && p.UserID == bob.uid && p.State == api.TypingStart:
				done = true
			}
		case <-deadline:
			t.Fatal("bob's typing signal never reached alice")
		}
	}
	if got := alice.live.LastSeen(bobAtAlice); got != nil {
		t.Fatalf("alice, hidden, knows when bob was last seen: %d", *got)
	}
}

// Typing: a bad state or an unknown conversation is refused with the API's error kinds,
// and a repeated "start" within TypingRefresh is not sent again (the signals ride one
// stream in order, so the repeat would come before the stop).
func TestTypingRateLimited(t *testing.T) {
	ctx := context.Background()
	opts := Options{Heartbeat: time.Hour, Timeout: time.Hour, TypingTimeout: time.Hour, TypingRefresh: time.Hour}
	alice, bob := startLive(t, "alice", opts, nil), startLive(t, "bob", opts, nil)
	_, conv := befriend(alice, bob)
	befriend(bob, alice)
	if err := alice.live.Typing(ctx, conv, "maybe"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("typing state \"maybe\": %v; want bad request", err)
	}
	if err := alice.live.Typing(ctx, "no-such-conversation", api.TypingStart); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("typing in an unknown conversation: %v; want not found", err)
	}
	frames, cancel := bob.frames.Subscribe(nil)
	defer cancel()
	for _, state := range []string{api.TypingStart, api.TypingStart, api.TypingStop, api.TypingStart} {
		if err := alice.live.Typing(ctx, conv, state); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{api.TypingStart, api.TypingStop, api.TypingStart}
	if got := typingStates(t, frames, alice.uid, conv, len(want)); !equal(got, want) {
		t.Fatalf("typing frames at bob: %v; want %v", got, want)
	}
}

// A typing mark that is not refreshed ends at the receiver by itself after TypingTimeout.
func TestTypingExpiresAtTheReceiver(t *testing.T) {
	alice := startLive(t, "alice", Options{Heartbeat: time.Hour, Timeout: time.Hour}, nil)
	bob := startLive(t, "bob", Options{Heartbeat: time.Hour, Timeout: time.Hour, TypingTimeout: 100 * time.Millisecond}, nil)
	_, conv := befriend(alice, bob)
	befriend(bob, alice)
	frames, cancel := bob.frames.Subscribe(nil)
	defer cancel()
	if err := alice.live.Typing(context.Background(), conv, api.TypingStart); err != nil {
		t.Fatal(err)
	}
	want := []string{api.TypingStart, api.TypingStop}
	if got := typingStates(t, frames, alice.uid, conv, len(want)); !equal(got, want) {
		t.Fatalf("typing frames at bob: %v; want %v", got, want)
	}
}

// typingStates collects the states of the first n typing frames from uid in conv.
func typingStates(t *testing.T, frames <-chan []byte, uid, conv string, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(wait.Default)
	for len(got) < n {
		select {
		case f := <-frames:
			var p api.TypingFrame
			if json.Unmarshal(f, &p) == nil && p.Type == api.FrameTyping && p.UserID == uid && p.ConversationID == conv {
				got = append(got, p.State)
			}
		case <-deadline:
			t.Fatalf("typing frames: %v; want %d of them", got, n)
		}
	}
	return got
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A contact may signal typing only in a conversation it shares with us: its direct
// conversation or a group both belong to. A signal for another conversation is dropped
// (the stream goes on: the next, shared one arrives).
func TestTypingOnlyInSharedConversations(t *testing.T) {
	opts := Options{Heartbeat: time.Hour, Timeout: time.Hour}
	alice, bob := startLive(t, "alice", opts, nil), startLive(t, "bob", opts, nil)
	befriend(alice, bob)
	befriend(bob, alice)
	bob.book.mu.Lock()
	bob.book.groups["g-shared"] = []string{alice.uid, bob.uid}
	bob.book.groups["g-other"] = []string{bob.uid}
	bob.book.mu.Unlock()
	frames, cancel := bob.frames.Subscribe(nil)
	defer cancel()
	for _, conv := range []string{"g-other", "d-someone-else", "g-shared"} {
		alice.live.sendTo([]peer.ID{bob.h.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: api.TypingStart})
	}
	deadline := time.After(wait.Default)
	for {
		select {
		case f := <-frames:
			var p api.TypingFrame
			if json.Unmarshal(f, &p) != nil || p.Type != api.FrameTyping {
				continue
			}
			if p.ConversationID != "g-shared" {
				t.Fatalf("a typing signal in a conversation alice is not in reached bob's UI: %s", f)
			}
			return
		case <-deadline:
			t.Fatal("the signal in the shared group never arrived")
		}
	}
}

// Subscribers: a subscriber gets the frames it was given first, then what is published;
// one that does not read never blocks Publish, and a cancelled one gets nothing more.
func TestSubscribersFirstFramesThenPublished(t *testing.T) {
	var s Subscribers
	slow, cancelSlow := s.Subscribe(nil)
	defer cancelSlow()
	ch, cancel := s.Subscribe([][]byte{[]byte("first")})
	for i := range 2 * subscriberQueue { // slow never reads: Publish drops for it
		s.Publish([]byte(strconv.Itoa(i)))
	}
	if got := string(<-ch); got != "first" {
		t.Fatalf("first frame %q; want the one given at Subscribe", got)
	}
	for i := range subscriberQueue {
		if got := string(<-ch); got != strconv.Itoa(i) {
			t.Fatalf("frame %q; want %d", got, i)
		}
	}
	if len(slow) != subscriberQueue {
		t.Fatalf("a subscriber not reading holds %d frames; want its queue, %d", len(slow), subscriberQueue)
	}
	cancel()
	s.Publish([]byte("after cancel"))
	select {
	case f := <-ch:
		t.Fatalf("a cancelled subscriber got %q", f)
	default:
	}
}
