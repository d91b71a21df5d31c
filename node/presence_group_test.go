package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// presenceWatch follows one socket in the background and hands on every presence frame.
type presenceWatch struct {
	frames chan liveFrame
}

// watchPresence opens a synced socket on n and reads it until the test ends (the socket is
// closed by socket's cleanup, which ends the reader).
func watchPresence(t *testing.T, n *nodetest.Node) *presenceWatch {
	t.Helper()
	s := socket(t, n)
	w := &presenceWatch{frames: make(chan liveFrame, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			// A deadline far away: the one socket() set for its handshake would end the
			// reads (a read that times out breaks a websocket for good).
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			f, err := s.Read(ctx)
			cancel()
			if err != nil {
				return
			}
			var lf liveFrame
			if f.Type == "presence" && json.Unmarshal(f.Raw, &lf) == nil {
				select {
				case w.frames <- lf:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { s.Close(); <-done })
	return w
}

// online returns once the socket has shown uid online and then offline, or fails the
// test after limit.
func (w *presenceWatch) online(t *testing.T, who, uid string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(limit)
	wasOnline := false
	for {
		select {
		case f := <-w.frames:
			if f.UserID != uid {
				continue
			}
			switch f.State {
			case "online":
				wasOnline = true
			case "offline":
				if !wasOnline {
					t.Fatalf("%s: offline without online first", who)
				}
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("%s: the member was never shown online then offline within %v (online seen: %v)", who, limit, wasOnline)
		}
	}
}

// The scenario of issue 11: three mutual contacts in a group, twenty messages each over
// their sockets, one member removed and then stopped hard. The others see that member
// online while the group is busy and offline once it is gone, with the default timers.
func TestPresenceUnderGroupTraffic(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t, 3, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	wa, wb := watchPresence(t, a), watchPresence(t, b)
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				nodetest.Befriend(t, x, y)
			}
		}
	}
	uc := nodetest.UserID(t, c)
	uids := []string{nodetest.UserID(t, a), nodetest.UserID(t, b), uc}
	conv, err := a.Client.CreateGroup(ctx, "busy", uids[1:])
	if err != nil {
		t.Fatal(err)
	}
	gid := conv.ID
	waitMembers(t, nodes, gid, uids)
	socks := make([]*localclient.Socket, len(nodes))
	for i, n := range nodes {
		socks[i] = socket(t, n)
	}
	for k := range 20 {
		for i, s := range socks {
			if err := s.Send(map[string]any{"type": "send", "conversation_id": gid,
				"client_msg_id": fmt.Sprintf("m%d-%d", i, k), "body": fmt.Sprintf("message %d from %d", k, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range nodes {
		waitMessages(t, n, gid, 60)
	}
	if _, err := a.Client.ChangeMembers(ctx, gid, nil, []string{uc}); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[:2], gid, uids[:2])
	// C goes away at once, without a goodbye (its host closes; it sends nothing more). It
	// was online, a contact of both, in a busy group with them for as long as the messages
	// took: both must have seen it online, and now see it go offline.
	c.Stop()
	took := wb.online(t, "B", uc, 120*time.Second)
	took2 := wa.online(t, "A", uc, 120*time.Second)
	t.Logf("C offline at B after %v, at A after %v more", took, took2)
}
