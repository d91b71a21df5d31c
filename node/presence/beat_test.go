package presence

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/wire"
)

// A contact we see online keeps getting our heartbeats after its connection closed (a
// connection manager trimmed it, a connection was replaced): the beat dials it instead of
// waiting for the next dial beat, which comes only as the contact's timeout runs out. The
// beats run by hand here (the timers are an hour), so the test sees exactly one.
func TestHeartbeatReachesOnlineContactWithoutConnection(t *testing.T) {
	slow := Options{Heartbeat: time.Hour}
	alice, bob := startLive(t, "alice", slow, nil), startLive(t, "bob", slow, nil)
	ah, bh := alice.h, bob.h
	bobAtAlice, _ := befriend(alice, bob)
	befriend(bob, alice)
	frames, cancel := bob.frames.Subscribe(bob.live.OnlineFrames())
	defer cancel()

	// Alice saw Bob online a moment ago, and has dialed him before; no connection is open.
	_ = ah.Network().ClosePeer(bh.ID())
	alice.live.mu.Lock()
	alice.live.online[bobAtAlice] = time.Now()
	alice.live.dialed[bh.ID()] = true
	alice.live.mu.Unlock()

	alice.live.sendAll(&wire.Live{Type: wire.LiveHeartbeat}, false)
	// sendAll only queues the signal: Bob's frame follows as the stream opens (a dial).
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f := <-frames:
			var p struct {
				Type   string `json:"type"`
				UserID string `json:"user_id"`
				State  string `json:"state"`
			}
			if json.Unmarshal(f, &p) == nil && p.Type == "presence" && p.UserID == alice.uid && p.State == "online" {
				return
			}
		case <-deadline:
			t.Fatal("the beat skipped a contact online here whose connection had closed")
		}
	}
}
