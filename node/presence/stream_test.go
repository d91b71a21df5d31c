package presence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/wire"
)

// liveStreams counts the live streams h opened to pid that are open.
func liveStreams(h host.Host, pid peer.ID) int {
	n := 0
	for _, c := range h.Network().ConnsToPeer(pid) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == wire.LiveProtocol && s.Stat().Direction == network.DirOutbound {
				n++
			}
		}
	}
	return n
}

// liveScope is the resource manager's count of h's live streams.
func liveScope(t *testing.T, h host.Host) network.ScopeStat {
	t.Helper()
	var st network.ScopeStat
	err := h.Network().ResourceManager().ViewService(liveServiceName, func(s network.ServiceScope) error {
		st = s.Stat()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Signals to a contact ride one stream, one after another; a stream that broke is
// replaced at the next signal, and one left idle for a Timeout is closed at both ends.
func TestLiveSignalsShareOneStreamAndReopen(t *testing.T) {
	alice, bob, conv := livePair(t, time.Hour)
	ah, bh := alice.h, bob.h
	frames, cancel := bob.frames.Subscribe(bob.live.OnlineFrames())
	defer cancel()
	typing := func(what string) {
		t.Helper()
		alice.live.sendTo([]peer.ID{bh.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: "start"})
		typingFrom(t, frames, alice.uid, conv, api.TypingStart, what)
	}
	for i := range 5 {
		typing(fmt.Sprintf("signal %d", i))
		alice.live.sendTo([]peer.ID{bh.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: "stop"})
	}
	typing("signal 5")
	if n := liveStreams(ah, bh.ID()); n != 1 {
		t.Fatalf("%d live streams from alice to bob after 12 signals; want 1", n)
	}

	// The stream is reset under alice's feet (the peer reset it, say): the next signal
	// goes on a new one. Heartbeats of the presence handshake (greetings on connecting,
	// the answer to bob's first heartbeat) may still be queued at any moment and reuse the
	// stream or open a new one, which is right: the test reads alice's stream only while
	// no drain owns it, and follows the streams open at a moment, never a count.
	stream := func(s *network.Stream) func() bool {
		return func() bool { // true once no drain is writing (it stops right after a write)
			alice.live.mu.Lock()
			defer alice.live.mu.Unlock()
			o := alice.live.out[bh.ID()]
			if o == nil || o.running {
				return false
			}
			*s = o.s
			return true
		}
	}
	var old, renewed network.Stream
	waitLive(t, "alice's drain finishes", stream(&old))
	if old == nil {
		t.Fatal("alice has no stream to bob after a signal")
	}
	old.Reset()
	typing("after a reset")
	waitLive(t, "alice's drain finishes", stream(&renewed))
	if renewed == nil || renewed == old {
		t.Fatal("the signal after a reset did not go on a new stream")
	}

	// Idle for longer than a Timeout: closed, and bob's reader of it ends at once (not at
	// its read deadline, an hour away), both ends letting go of their resource scopes.
	bobReaders := func() map[network.Stream]bool {
		bob.live.mu.Lock()
		defer bob.live.mu.Unlock()
		in := map[network.Stream]bool{}
		for s := range bob.live.in {
			in[s] = true
		}
		return in
	}
	since := time.Now()
	before := bobReaders() // bob's end of renewed is among them: it carried a signal
	if len(before) == 0 {
		t.Fatal("bob reads no live stream after a signal")
	}
	// idleStreams skips a stream while a drain writes on it: try again until alice holds
	// no stream to bob opened before the snapshot.
	waitLive(t, "alice closes the idle stream", func() bool {
		alice.live.idleStreams(time.Now().Add(2 * time.Hour))
		alice.live.mu.Lock()
		defer alice.live.mu.Unlock()
		o := alice.live.out[bh.ID()]
		return o == nil || !o.running && (o.s == nil || o.s.Stat().Opened.After(since))
	})
	waitLive(t, "bob's reader ends when alice closes", func() bool {
		now := bobReaders()
		for s := range before {
			if now[s] {
				return false
			}
		}
		return true
	})
	// Every live stream still counted by either resource manager is one being used.
	waitLive(t, "the live service scopes count only open streams", func() bool {
		outScope := liveScope(t, ah).NumStreamsOutbound
		inScope := liveScope(t, bh).NumStreamsInbound
		return outScope == liveStreams(ah, bh.ID()) && inScope == len(bobReaders())
	})
	typing("after the idle close")
}

// The reader resets a stream silent for longer than Timeout (+ liveTimeout), and the
// sender's next signal opens a new one.
func TestLiveStreamSilentIsResetAndReopened(t *testing.T) {
	alice, bob, conv := livePair(t, 200*time.Millisecond)
	bh := bob.h
	frames, cancel := bob.frames.Subscribe(bob.live.OnlineFrames())
	defer cancel()
	alice.live.sendTo([]peer.ID{bh.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: "start"})
	typingFrom(t, frames, alice.uid, conv, api.TypingStart, "first signal")
	waitLive(t, "bob resets the silent stream", func() bool {
		bob.live.mu.Lock()
		defer bob.live.mu.Unlock()
		return len(bob.live.in) == 0
	})
	alice.live.sendTo([]peer.ID{bh.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: "stop"})
	alice.live.sendTo([]peer.ID{bh.ID()}, &wire.Live{Type: wire.LiveTyping, Conv: conv, State: "start"})
	typingFrom(t, frames, alice.uid, conv, api.TypingStart, "after bob reset the stream")
}

// rawLive opens a live stream from h to pid and writes frames on it, then reports how
// the stream ended: nil if the reader closed it, the error if it reset it.
func rawLive(t *testing.T, h host.Host, pid peer.ID, frames ...[]byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, pid, wire.LiveProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(s)
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, s)
	if err == nil {
		// The reader closed its side at once (it never writes): wait for the end of
		// ours, which a reset ends with an error.
		_, err = s.Write([]byte{0})
		for i := 0; err == nil && i < 300; i++ {
			time.Sleep(10 * time.Millisecond)
			_, err = s.Write([]byte{0})
		}
	}
	return err
}

func frameOf(t *testing.T, l *wire.Live) []byte {
	t.Helper()
	b, err := wire.MarshalLive(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	out = append(out, byte(len(b)))
	return append(out, b...)
}

// A stream that is not a contact's, carries a frame too large, or floods signals is
// reset by the reader; a contact's well-behaved stream is not.
func TestLiveStreamAbuseIsReset(t *testing.T) {
	alice, bob, _ := livePair(t, time.Hour)
	ah, bh := alice.h, bob.h
	hb := frameOf(t, &wire.Live{Type: wire.LiveHeartbeat})
	stranger := loopbackHost(t)
	stranger.Peerstore().AddAddrs(bh.ID(), bh.Addrs(), time.Hour)

	if err := rawLive(t, stranger, bh.ID(), hb); !isReset(err) {
		t.Fatalf("a stranger's heartbeat stream: %v; want a reset", err)
	}
	big := append([]byte{0x81, 0x08}, make([]byte, 1025)...) // a 1,025-byte frame
	if err := rawLive(t, ah, bh.ID(), big); !isReset(err) {
		t.Fatalf("a frame over MaxLive: %v; want a reset", err)
	}
	var flood []byte
	for range 2 * liveBurst {
		flood = append(flood, hb...)
	}
	if err := rawLive(t, ah, bh.ID(), flood); !isReset(err) {
		t.Fatalf("%d signals at once: %v; want a reset", 2*liveBurst, err)
	}
}

func isReset(err error) bool {
	return errors.Is(err, network.ErrReset)
}

// A peer that does not take signals never makes a sender wait: its queue keeps the
// newest liveQueue signals, in order, and a repeat of the last one is not queued.
func TestLiveQueueIsBoundedDropOldest(t *testing.T) {
	alice, bob, conv := livePair(t, time.Hour)
	bh := bob.h
	alice.live.mu.Lock()
	o := &liveOut{pid: bh.ID(), running: true} // a drain is busy (say, dialing)
	alice.live.out[bh.ID()] = o
	alice.live.mu.Unlock()
	var want [][]byte
	for i := range 3 * liveQueue {
		l := &wire.Live{Type: wire.LiveTyping, Conv: conv, State: []string{"start", "stop"}[i%2]}
		b, _ := wire.MarshalLive(l)
		alice.live.sendTo([]peer.ID{bh.ID()}, l)
		alice.live.sendTo([]peer.ID{bh.ID()}, l) // the same again: not queued twice
		want = append(want, b)
	}
	want = want[len(want)-liveQueue:]
	alice.live.mu.Lock()
	got := o.queue
	o.running = false
	o.queue = nil
	alice.live.mu.Unlock()
	if len(got) != liveQueue {
		t.Fatalf("queue of %d; want %d", len(got), liveQueue)
	}
	for i := range got {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("queue[%d] = %s; want %s (the newest, in order)", i, got[i], want[i])
		}
	}
}

// readLive takes any bytes a peer sends: a frame within MaxLive, or an error; never a
// panic, never more than MaxLive bytes.
func FuzzReadLive(f *testing.F) {
	f.Add([]byte{10, '{', '"', 't', '"', ':', '"', 'h', 'b', '"', '}'})
	f.Add([]byte{0x81, 0x08, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			fr, err := readLive(r)
			if err != nil {
				return
			}
			if len(fr) > wire.MaxLive {
				t.Fatalf("a frame of %d bytes", len(fr))
			}
		}
	})
}
