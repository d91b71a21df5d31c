package node_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaytest"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// The attacks of this file are made as an attacker would: with real nodes on loopback and
// a separate libp2p host speaking petrel's protocols with what anyone can copy (a user's
// public identity, a peer id from an invite link).

// chatted makes b add a's link, and the two exchange one message each way, so that b's
// contact for a has a session, a proven peer and a history. It returns b's contact for a.
func chatted(t *testing.T, a, b *nodetest.Node) api.Contact {
	t.Helper()
	ctx := context.Background()
	toA := nodetest.Befriend(t, b, a)
	if _, err := b.Client.Send(ctx, toA.ConversationID, "hello-a", "hello "+a.Name); err != nil {
		t.Fatal(err)
	}
	wait.For(t, a.Name+" gets the first message", func() error {
		cs, err := a.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 {
			return fmt.Errorf("contacts %v %v", cs, err)
		}
		if n := len(messages(t, a.Client, cs[0].ConversationID)); n != 1 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	if _, err := a.Client.Send(ctx, toA.ConversationID, "hello-b", "hello "+b.Name); err != nil {
		t.Fatal(err)
	}
	wait.For(t, b.Name+" gets the answer", func() error {
		if n := len(messages(t, b.Client, toA.ConversationID)); n != 2 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	wait.For(t, "both messages delivered", func() error {
		for _, cl := range []*localclient.Client{a.Client, b.Client} {
			for _, m := range messages(t, cl, toA.ConversationID) {
				if m.Status != api.StatusDelivered && m.Status != api.StatusRead {
					return fmt.Errorf("%q is %s", m.Body, m.Status)
				}
			}
		}
		return nil
	})
	return toA
}

// sameContact fails the test unless contact c at n is still what it was (before).
func sameContact(t *testing.T, n *nodetest.Node, before api.Contact) {
	t.Helper()
	c := contactOf(t, n, before.ID)
	if c.UserID != before.UserID || c.SafetyNumber != before.SafetyNumber || c.IdentityChanged ||
		c.Verified != before.Verified || c.ConversationID != before.ConversationID || c.Name != before.Name {
		t.Fatalf("%s's contact changed:\nbefore %+v\nafter  %+v", n.Name, before, c)
	}
}

// bodies lists the bodies of a conversation, in order.
func bodies(t *testing.T, cl *localclient.Client, conv string) []string {
	t.Helper()
	var out []string
	for _, m := range messages(t, cl, conv) {
		out = append(out, m.Body)
	}
	return out
}

// arrives sends body from n in conv and waits until it is in conv of to and delivered.
func arrives(t *testing.T, n *nodetest.Node, conv string, to *nodetest.Node, toConv, cmid, body string) {
	t.Helper()
	sent, err := n.Client.Send(context.Background(), conv, cmid, body)
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, fmt.Sprintf("%q from %s reaches %s", body, n.Name, to.Name), func() error {
		found := false
		for _, m := range messages(t, to.Client, toConv) {
			if m.Body == body {
				found = true
			}
		}
		if !found {
			return errors.New("not there")
		}
		for _, m := range messages(t, n.Client, conv) {
			if m.ID == sent.ID && m.Status != api.StatusDelivered && m.Status != api.StatusRead {
				return fmt.Errorf("%s sees it %s %s", n.Name, m.Status, m.Error)
			}
		}
		return nil
	})
}

func peerOf(t *testing.T, n *nodetest.Node) peer.ID {
	t.Helper()
	pid, err := peer.Decode(n.Info.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func publicOf(t *testing.T, n *nodetest.Node) *identity.PublicIdentity {
	t.Helper()
	inv, err := n.Client.CreateInvite(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := invite.Parse(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	return p.Identity
}

// TestInviteLinkCannotTakeOverContact: an attacker signs an invite link with a fresh
// identity of its own but names an existing contact's peer id (and name). Adding it is a
// 409 conflict: the contact, its safety number, its conversation and its history are
// untouched, what the user sends next still reaches the real contact (only her session
// decrypts it) and her messages still arrive; adding the real link again changes nothing.
func TestInviteLinkCannotTakeOverContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toAlice := chatted(t, alice, bob)
	verified := true
	if _, err := bob.Client.UpdateContact(ctx, toAlice.ID, api.ContactPatch{Verified: &verified}); err != nil {
		t.Fatal(err)
	}
	before := contactOf(t, bob, toAlice.ID)
	history := bodies(t, bob.Client, toAlice.ConversationID)
	var aliceConv string
	if cs, err := alice.Client.Contacts(ctx); err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	} else {
		aliceConv = cs[0].ConversationID
	}

	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := invite.Link(mallory, invite.Invite{Identity: mallory.Public(), PeerID: peerOf(t, alice), Name: "alice", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var got api.Contact
	status, err := bob.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: forged}, &got)
	var ae *localclient.APIError
	if status != 409 || !errors.As(err, &ae) || ae.Code != "conflict" {
		t.Fatalf("adding a link of another identity naming alice's peer: %d %v (contact %+v)", status, err, got)
	}
	sameContact(t, bob, before)
	if cs, err := bob.Client.Contacts(ctx); err != nil || len(cs) != 1 {
		t.Fatalf("bob's contacts after the forged link: %+v %v", cs, err)
	}
	if h := bodies(t, bob.Client, toAlice.ConversationID); strings.Join(h, "|") != strings.Join(history, "|") {
		t.Fatalf("history %q became %q", history, h)
	}

	arrives(t, bob, toAlice.ConversationID, alice, aliceConv, "b2", "still for alice")
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a2", "alice still here")
	sameContact(t, bob, before)

	// The real link again: the same contact, nothing changes, nothing is lost.
	inv, err := alice.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	status, err = bob.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &got)
	if err != nil || status != 200 || got.ID != toAlice.ID {
		t.Fatalf("alice's real link again: %d %v %+v", status, err, got)
	}
	sameContact(t, bob, before)
	for i := range 5 {
		arrives(t, bob, toAlice.ConversationID, alice, aliceConv, fmt.Sprintf("b3-%d", i), fmt.Sprintf("after the real link %d", i))
	}
	wait.For(t, "every message of bob's delivered", allStatus(t, bob.Client, toAlice.ConversationID, api.StatusDelivered))
}

// TestInviteLinkForUnansweredContactConflicts: the same forged link while the contact was
// only added from her link (she never wrote): still a conflict, and the contact keeps her
// identity, so that her first message is hers.
func TestInviteLinkForUnansweredContactConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toAlice := nodetest.Befriend(t, bob, alice)
	before := contactOf(t, bob, toAlice.ID)
	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := invite.Link(mallory, invite.Invite{Identity: mallory.Public(), PeerID: peerOf(t, alice), Name: "alice", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	status, err := bob.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: forged}, nil)
	if status != 409 {
		t.Fatalf("forged link: %d %v", status, err)
	}
	sameContact(t, bob, before)
	// Alice adds bob and writes: it is her contact that gets it.
	toBob := nodetest.Befriend(t, alice, bob)
	arrives(t, alice, toBob.ConversationID, bob, toAlice.ConversationID, "a1", "it is alice")
	sameContact(t, bob, before)
}

// rawPeer is an attacker's libp2p host that speaks petrel's protocols itself.
type rawPeer struct {
	t *testing.T
	h host.Host
}

func newRawPeer(t *testing.T, target *nodetest.Node) *rawPeer {
	t.Helper()
	h := bareHost(t)
	for _, a := range target.Info.Addrs {
		if ai, err := peer.AddrInfoFromString(a); err == nil {
			h.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		}
	}
	return &rawPeer{t: t, h: h}
}

func (r *rawPeer) stream(to peer.ID, proto string) network.Stream {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.h.NewStream(ctx, to, protocol.ID(proto))
	if err != nil {
		r.t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(30 * time.Second))
	return s
}

// bundle fetches a prekey bundle from to's node.
func (r *rawPeer) bundle(to peer.ID) *prekey.Bundle {
	r.t.Helper()
	s := r.stream(to, wire.PrekeyProtocol)
	defer s.Close()
	w := bufio.NewWriter(s)
	if err := wire.WriteFrame(w, []byte{wire.TypePrekeys}); err != nil {
		r.t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		r.t.Fatal(err)
	}
	resp, err := wire.ReadFrame(bufio.NewReader(s), nil)
	if err != nil || len(resp) == 0 || resp[0] != wire.TypePrekeys {
		r.t.Fatalf("prekeys: %v %q", err, resp)
	}
	b, err := prekey.ParseBundle(resp[1:])
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// deliver sends one Deliver over a new /petrel/msg stream and returns its Ack.
func (r *rawPeer) deliver(to peer.ID, initial, msg []byte) wire.AckStatus {
	r.t.Helper()
	s := r.stream(to, wire.MessageProtocol)
	defer s.Reset()
	var d wire.Deliver
	rand.Read(d.ID[:])
	d.Initial, d.Message = initial, msg
	w := bufio.NewWriter(s)
	if err := wire.WriteFrame(w, wire.AppendDeliver(nil, &d)); err != nil {
		r.t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		r.t.Fatal(err)
	}
	b, err := wire.ReadFrame(bufio.NewReader(s), nil)
	if err != nil {
		r.t.Fatalf("no ack: %v", err)
	}
	a, err := wire.ParseAck(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return a.Status
}

// live sends one live signal and waits until the receiver has handled it (it closes the
// stream after).
func (r *rawPeer) live(to peer.ID, l *wire.Live) {
	r.t.Helper()
	s := r.stream(to, wire.LiveProtocol)
	defer s.Reset()
	b, err := wire.MarshalLive(l)
	if err != nil {
		r.t.Fatal(err)
	}
	w := bufio.NewWriter(s)
	if err := wire.WriteFrame(w, b); err != nil {
		r.t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		r.t.Fatal(err)
	}
	_ = s.CloseWrite()
	_, _ = s.Read(make([]byte, 1)) // EOF once handled
}

// text encrypts a text content with a card naming peerID.
func text(t *testing.T, st *ratchet.State, seq uint64, body string, peerID peer.ID) []byte {
	t.Helper()
	c := &wire.Content{Kind: wire.KindText, ID: fmt.Sprintf("x%d%d", seq, time.Now().UnixNano()), Seq: seq,
		TS: hlc.New(time.Now).Now().String(), Body: body,
		Card: &wire.Card{Name: "alice", PeerID: peerID.String(), Addrs: []string{}, Relays: []string{}}}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := st.Encrypt(b)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// TestForgedInitialMessageCannotRebindContact: a separate libp2p host sends bob a PQXDH
// initial message that claims alice's public identity (anyone can copy it; only the key
// exchange proves it). It does not decrypt, and nothing about alice's contact changes:
// alice's later messages, presence and typing still reach bob as hers. Then the same host
// runs an honest PQXDH with its own identity: that is a new stranger's message request,
// never alice's identity change, and nothing of it lands in alice's conversation.
func TestForgedInitialMessageCannotRebindContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 2, fast(time.Second))
	alice, bob := nodes[0], nodes[1]
	alice.Name, bob.Name = "alice", "bob"
	toAlice := chatted(t, alice, bob)
	before := contactOf(t, bob, toAlice.ID)
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	}
	aliceConv := cs[0].ConversationID
	bobID := peerOf(t, bob)

	attacker := newRawPeer(t, bob)
	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	// Step 1: an initial message of mallory's with alice's public identity put in.
	st, initial, err := pqxdh.Initiate(mallory, attacker.bundle(bobID))
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte{}, initial...)
	alicePub := publicOf(t, alice).Bytes()
	copy(forged[2:], alicePub)
	if pub, err := pqxdh.InitiatorIdentity(forged); err != nil || pub.UserID() != identity.UserID(before.UserID) {
		t.Fatalf("the forged initial message does not claim alice: %v %v", pub, err)
	}
	if got := attacker.deliver(bobID, forged, text(t, st, 1, "it is me, alice", attacker.h.ID())); got != wire.AckUndecryptable {
		t.Fatalf("forged initial message: ack %s", got)
	}
	sameContact(t, bob, before)

	s := socket(t, bob)
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a-after-forgery", "alice after the forgery")
	// Presence: alice is online at bob; she hides, then shows herself again; bob sees
	// both, as hers.
	ua := before.UserID
	if _, ok := waitFrame(t, s, 20*time.Second, func(f liveFrame) bool {
		return f.Type == "presence" && f.UserID == ua && f.State == "online"
	}); !ok {
		t.Fatal("bob does not see alice online after the forgery")
	}
	for _, p := range []struct{ setting, state string }{{api.PresenceNobody, "offline"}, {api.PresenceContacts, "online"}} {
		setting := p.setting
		if _, err := alice.Client.UpdateSettings(ctx, api.SettingsPatch{Presence: &setting}); err != nil {
			t.Fatal(err)
		}
		if _, ok := waitFrame(t, s, 20*time.Second, func(f liveFrame) bool {
			return f.Type == "presence" && f.UserID == ua && f.State == p.state
		}); !ok {
			t.Fatalf("bob does not see alice %s after the forgery", p.state)
		}
	}
	sa := socket(t, alice)
	frames := pumpFrames(t, s) // from here on, bob's frames are read from the pump
	aliceTypes := typer(t, sa, aliceConv)
	aliceTypes()
	if _, ok := waitChan(t, frames, 30*time.Second, aliceTypes, func(f liveFrame) bool {
		return f.Type == "typing" && f.UserID == ua && f.State == "start" && f.ConversationID == toAlice.ConversationID
	}); !ok {
		t.Fatal("alice's typing does not reach bob after the forgery")
	}
	if _, ok := waitChan(t, frames, 20*time.Second, nil, func(f liveFrame) bool {
		return f.Type == "typing" && f.UserID == ua && f.State == "stop"
	}); !ok {
		t.Fatal("alice's typing never ends at bob")
	}

	// Step 2: an honest session from the same peer, with mallory's own identity, and a card
	// naming the peer it comes from.
	st, initial, err = pqxdh.Initiate(mallory, attacker.bundle(bobID))
	if err != nil {
		t.Fatal(err)
	}
	if got := attacker.deliver(bobID, initial, text(t, st, 1, "new phone, it is alice", attacker.h.ID())); got != wire.AckStored {
		t.Fatalf("mallory's honest message: ack %s", got)
	}
	sameContact(t, bob, before)
	for _, b := range bodies(t, bob.Client, toAlice.ConversationID) {
		if strings.Contains(b, "new phone") {
			t.Fatalf("mallory's message filed in alice's conversation: %q", b)
		}
	}
	all, err := bob.Client.Contacts(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("bob's contacts: %+v %v", all, err)
	}
	for _, c := range all {
		if c.ID != toAlice.ID && (c.Request != api.RequestPending || c.UserID != string(mallory.UserID())) {
			t.Fatalf("mallory's contact: %+v", c)
		}
	}
	// Step 3: mallory claims alice's peer in her card, from her own peer: not believed.
	st, initial, err = pqxdh.Initiate(mallory, attacker.bundle(bobID))
	if err != nil {
		t.Fatal(err)
	}
	if got := attacker.deliver(bobID, initial, text(t, st, 2, "alice's peer is mine", peerOf(t, alice))); got != wire.AckStored {
		t.Fatalf("mallory's second session: ack %s", got)
	}
	sameContact(t, bob, before)
	// The attacker's peer speaks for no one but mallory: its live signals are not alice's.
	// Alice's own "stop" marks where to stop looking.
	attacker.live(bobID, &wire.Live{Type: wire.LiveHidden})
	attacker.live(bobID, &wire.Live{Type: wire.LiveTyping, Conv: toAlice.ConversationID, State: "start"})
	if err := sa.Send(map[string]any{"type": "typing", "conversation_id": aliceConv, "state": "stop"}); err != nil {
		t.Fatal(err)
	}
	var forgedLive string
	if _, ok := waitChan(t, frames, 20*time.Second, nil, func(f liveFrame) bool {
		if f.UserID == ua && (f.Type == "presence" && f.State == "offline" || f.Type == "typing" && f.State == "start") {
			forgedLive = f.Type + " " + f.State
		}
		return f.Type == "typing" && f.UserID == ua && f.State == "stop"
	}); !ok {
		t.Fatal("alice's typing stop does not reach bob")
	}
	if forgedLive != "" {
		t.Fatalf("the attacker's live signal showed as alice's: %s", forgedLive)
	}
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a-after-mallory", "alice after mallory")
	arrives(t, bob, toAlice.ConversationID, alice, aliceConv, "b-after-mallory", "bob after mallory")
	sameContact(t, bob, before)
}

// TestStalledMessageStreamIsClosed: a stranger opens /petrel/msg and sends one byte of a
// frame (its length); the node closes the stream after its read deadline instead of holding it.
func TestStalledMessageStreamIsClosed(t *testing.T) {
	bob := nodetest.Start(t, "bob")
	stranger := newRawPeer(t, bob)
	s := stranger.stream(peerOf(t, bob), wire.MessageProtocol)
	defer s.Reset()
	if _, err := s.Write([]byte{0x10}); err != nil { // a 16-byte frame begins
		t.Fatal(err)
	}
	// Our own deadline is far beyond the node's: the read must end because the node
	// reset the stream, not because we gave up.
	_ = s.SetReadDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	_, err := s.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("the node answered one byte")
	}
	if errors.Is(err, errDeadline(err)) || time.Since(start) >= 2*time.Minute {
		t.Fatalf("the node held the stalled stream until our own deadline (%v)", err)
	}
	t.Logf("the node closed the stalled stream after %v: %v", time.Since(start), err)
}

// errDeadline returns err itself when it is the stream's own read deadline passing.
func errDeadline(err error) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

// impostor starts a libp2p host with a stopped node's own host key on its address: the peer
// the node's contacts dial, answered by the test instead of the node.
func impostor(t *testing.T, n *nodetest.Node) host.Host {
	t.Helper()
	var hostKey []byte
	n.UpdateStore(t, func(tx *store.Tx) error {
		var err error
		hostKey, err = tx.Get([]byte("cfg/p2pkey"))
		return err
	})
	key, err := crypto.UnmarshalPrivateKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	listen, _, _ := strings.Cut(n.Info.Addrs[0], "/p2p/")
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(listen), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// servePrekeys answers every prekey request on h with bundle, and then signals served
// (when not nil).
func servePrekeys(h host.Host, bundle []byte, served chan<- struct{}) {
	h.SetStreamHandler(protocol.ID(wire.PrekeyProtocol), func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := wire.ReadFrame(bufio.NewReader(s), nil); err != nil {
			return
		}
		w := bufio.NewWriter(s)
		_ = wire.WriteFrame(w, append([]byte{wire.TypePrekeys}, bundle...))
		_ = w.Flush()
		if served != nil {
			served <- struct{}{}
		}
	})
}

// TestUndecryptableSentAgainUnderNewSession: the receiver lost its session with the sender
// (a restored backup, say) and answers "undecryptable". The sender does not leave the
// message failed (or sent) but starts a new session and sends it again: it arrives, once.
func TestUndecryptableSentAgainUnderNewSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toAlice := chatted(t, alice, bob)
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	}
	aliceConv := cs[0].ConversationID
	bob.Stop()
	bob.UpdateStore(t, func(tx *store.Tx) error {
		for i := range 2 {
			if err := tx.Delete(fmt.Appendf(nil, "ss/%s/%d", toAlice.ID, i)); err != nil {
				return err
			}
		}
		return nil
	})
	bob.Run()
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a-lost", "after bob lost his session")
	arrives(t, bob, toAlice.ConversationID, alice, aliceConv, "b-new", "bob under the new session")
	n := 0
	for _, b := range bodies(t, bob.Client, toAlice.ConversationID) {
		if b == "after bob lost his session" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("bob has the message %d times", n)
	}
}

// TestUndecryptableFailsAfterBoundedRetries: a node behind bob's network key that serves
// bob's genuine prekey bundle but can decrypt nothing. Alice's message is sent under a new
// session a bounded number of times, then fails with a reason: never "sent", never retried
// forever.
func TestUndecryptableFailsAfterBoundedRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toBob := chatted(t, bob, alice) // alice's contact for bob
	bobID := peerOf(t, bob)
	bundle := newRawPeer(t, bob).bundle(bobID).Marshal()
	bob.Stop()
	h := impostor(t, bob)
	initials := make(chan struct{}, 64)
	servePrekeys(h, bundle, nil)
	h.SetStreamHandler(protocol.ID(wire.MessageProtocol), func(s network.Stream) {
		defer s.Reset()
		_ = s.SetDeadline(time.Now().Add(30 * time.Second))
		r, w := bufio.NewReader(s), bufio.NewWriter(s)
		for {
			b, err := wire.ReadFrame(r, nil)
			if err != nil {
				return
			}
			d, err := wire.ParseDeliver(b)
			if err != nil {
				return
			}
			if d.Initial != nil {
				initials <- struct{}{}
			}
			if wire.WriteFrame(w, wire.AppendAck(nil, wire.Ack{ID: d.ID, Status: wire.AckUndecryptable})) != nil || w.Flush() != nil {
				return
			}
		}
	})
	sent, err := alice.Client.Send(ctx, toBob.ConversationID, "a-doomed", "nobody can read this")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alice's message fails with a reason", func() error {
		for _, m := range messages(t, alice.Client, toBob.ConversationID) {
			if m.ID != sent.ID {
				continue
			}
			if m.Status != api.StatusFailed {
				return fmt.Errorf("status %s", m.Status)
			}
			if !strings.Contains(m.Error, "could not decrypt") {
				return fmt.Errorf("reason %q", m.Error)
			}
			return nil
		}
		return errors.New("message gone")
	})
	// Each new session is a new PQXDH initial message: the original one's (alice had an
	// answered session, so it carried none) and one per reset.
	if got := len(initials); got != 3 {
		t.Fatalf("alice started %d new sessions, want 3", got)
	}
}

// TestUndecryptableMailboxMailAskedAgain: mail waits in bob's mailbox while he is away, and
// bob comes back without his session with alice. No ack can tell alice (the mailbox has no
// ack back), so bob's node starts a new session and asks for what it lacks: every message
// arrives once and ends delivered, none stays "sent".
func TestUndecryptableMailboxMailAskedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	alice := nodetest.StartWith(t, "alice", func(c *node.Config) { c.Relays = []string{r.Info.Addrs[0]} })
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) {
		c.Relays = []string{r.Info.Addrs[0]}
		c.RelayPoll = 200 * time.Millisecond
	})
	nodetest.WaitRelayConnected(t, bob, "bob")
	toAlice := chatted(t, alice, bob)
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	}
	aliceConv := cs[0].ConversationID
	bob.Stop()
	const n = 3
	for i := range n {
		if _, err := alice.Client.Send(ctx, aliceConv, fmt.Sprintf("away%d", i), fmt.Sprintf("while away %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "alice's mail sits in bob's mailbox", func() error {
		if got := r.Stats().Messages; got != n {
			return fmt.Errorf("the relay holds %d", got)
		}
		return nil
	})
	wait.For(t, "alice's messages are sent", func() error {
		for _, m := range messages(t, alice.Client, aliceConv) {
			if strings.HasPrefix(m.Body, "while away") && m.Status != api.StatusSent {
				return fmt.Errorf("%q is %s", m.Body, m.Status)
			}
		}
		return nil
	})
	bob.UpdateStore(t, func(tx *store.Tx) error {
		for i := range 2 {
			if err := tx.Delete(fmt.Appendf(nil, "ss/%s/%d", toAlice.ID, i)); err != nil {
				return err
			}
		}
		return nil
	})
	bob.Run()
	wait.For(t, "bob has every message once", func() error {
		seen := map[string]int{}
		for _, b := range bodies(t, bob.Client, toAlice.ConversationID) {
			seen[b]++
		}
		for i := range n {
			if c := seen[fmt.Sprintf("while away %d", i)]; c != 1 {
				return fmt.Errorf("%q %d times", fmt.Sprintf("while away %d", i), c)
			}
		}
		return nil
	})
	wait.For(t, "alice sees every message delivered", allStatus(t, alice.Client, aliceConv, api.StatusDelivered))
}

// TestPeerServingAnotherBundleIsNoIdentityChange: the contact's peer (a host holding alice's
// network key) serves the genuine prekey bundle of someone else. Anyone can serve a copy of
// anyone's bundle: bob starts no session with it and alice's contact keeps her identity.
func TestPeerServingAnotherBundleIsNoIdentityChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob, carol := nodetest.Start(t, "alice"), nodetest.Start(t, "bob"), nodetest.Start(t, "carol")
	toAlice := nodetest.Befriend(t, bob, alice)
	before := contactOf(t, bob, toAlice.ID)
	carolBundle := newRawPeer(t, carol).bundle(peerOf(t, carol)).Marshal()
	alice.Stop()
	// Bob lost his session with alice: his next message needs a bundle.
	bob.Stop()
	bob.UpdateStore(t, func(tx *store.Tx) error {
		for i := range 2 {
			if err := tx.Delete(fmt.Appendf(nil, "ss/%s/%d", toAlice.ID, i)); err != nil {
				return err
			}
		}
		return nil
	})
	served := make(chan struct{}, 64)
	servePrekeys(impostor(t, alice), carolBundle, served)
	bob.Run()
	if _, err := bob.Client.Send(ctx, toAlice.ConversationID, "b1", "for alice only"); err != nil {
		t.Fatal(err)
	}
	// Bob asks again after a refused bundle: by the second request the first was handled.
	for range 2 {
		select {
		case <-served:
		case <-time.After(90 * time.Second):
			t.Fatal("bob never asked alice's peer for a bundle")
		}
	}
	sameContact(t, bob, before)
	for _, m := range messages(t, bob.Client, toAlice.ConversationID) {
		if m.Status != api.StatusPending {
			t.Fatalf("bob's message is %s %s: it went somewhere", m.Status, m.Error)
		}
	}
}

// TestMailboxCardCannotClaimContactsPeer: a stranger's sealed mail (it authenticates its
// sender, not any peer) carries a card naming alice's peer id. It is a new message request
// without a peer: alice's binding at bob stays, and her messages keep arriving as hers.
func TestMailboxCardCannotClaimContactsPeer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	alice := nodetest.Start(t, "alice")
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) {
		c.Relays = []string{r.Info.Addrs[0]}
		c.RelayPoll = 200 * time.Millisecond
	})
	nodetest.WaitRelayConnected(t, bob, "bob")
	toAlice := chatted(t, alice, bob)
	before := contactOf(t, bob, toAlice.ID)
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	}
	aliceConv := cs[0].ConversationID

	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	stranger := bareHost(t)
	stranger.Peerstore().AddAddrs(r.ID(), r.AddrInfo().Addrs, time.Hour)
	bobPub := publicOf(t, bob)
	var bundle *prekey.Bundle
	wait.For(t, "bob's prekeys at his relay", func() error {
		bundle, err = mailboxclient.FetchBundle(ctx, stranger, r.ID(), bobPub)
		return err
	})
	st, initial, err := pqxdh.Initiate(mallory, bundle)
	if err != nil {
		t.Fatal(err)
	}
	var d wire.Deliver
	rand.Read(d.ID[:])
	d.Initial, d.Message = initial, text(t, st, 1, "mail from alice's peer", peerOf(t, alice))
	mailbox := mailboxclient.MailboxID(bobPub)
	env, err := sealed.SealFrom(mailbox, bobPub, mallory, wire.AppendDeliver(nil, &d))
	if err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Deposit(ctx, stranger, r.ID(), mailbox, env); err != nil {
		t.Fatal(err)
	}
	var request api.Contact
	wait.For(t, "bob gets the stranger's message request", func() error {
		all, err := bob.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		for _, c := range all {
			if c.UserID == string(mallory.UserID()) {
				request = c
				return nil
			}
		}
		return fmt.Errorf("%d contacts", len(all))
	})
	if request.Request != api.RequestPending || request.ID == toAlice.ID {
		t.Fatalf("the stranger's contact: %+v", request)
	}
	sameContact(t, bob, before)
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a-after-card", "alice after the card")
	for _, b := range bodies(t, bob.Client, toAlice.ConversationID) {
		if b == "mail from alice's peer" {
			t.Fatal("the stranger's mail is in alice's conversation")
		}
	}
}

// TestGroupMemberCardCannotClaimPeer: a group's admin vouches for a member card (it signs
// the operation), not for the member's peer id. Carol adds a member whose card names
// alice's peer id under another identity; bob, who does not know alice yet, keeps that
// claim unproven. When alice herself writes to bob from her peer, she is a new contact of
// her own, not the planted member's identity change, and her message is in her own
// conversation.
func TestGroupMemberCardCannotClaimPeer(t *testing.T) {
	t.Parallel()
	t.Run("AliceWrites", func(t *testing.T) { groupCardClaim(t, false) })
	t.Run("BobAddsAlicesLink", func(t *testing.T) { groupCardClaim(t, true) })
}

// groupCardClaim plants the member, then alice writes to bob (after bob added her link,
// when link is true: the link, signed by alice, wins over the admin's word).
func groupCardClaim(t *testing.T, link bool) {
	ctx := context.Background()
	nodes := startNodes(t, 3, nil)
	alice, bob, carol := nodes[0], nodes[1], nodes[2]
	alice.Name, bob.Name, carol.Name = "alice", "bob", "carol"
	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := invite.Link(mallory, invite.Invite{Identity: mallory.Public(), PeerID: peerOf(t, alice), Name: "alice", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Client.AddContact(ctx, forged); err != nil {
		t.Fatal(err)
	}
	nodetest.Befriend(t, carol, bob)
	ub := nodetest.UserID(t, bob)
	conv, err := carol.Client.CreateGroup(ctx, "planted", []string{ub, string(mallory.UserID())})
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob has the group", func() error {
		c, err := bob.Client.Conversation(ctx, conv.ID)
		if err != nil {
			return err
		}
		if len(c.Members) != 3 {
			return fmt.Errorf("%d members", len(c.Members))
		}
		return nil
	})
	if link {
		toAlice := nodetest.Befriend(t, bob, alice)
		if toAlice.UserID != nodetest.UserID(t, alice) || toAlice.IdentityChanged {
			t.Fatalf("bob's contact from alice's link: %+v", toAlice)
		}
	}
	toBob := nodetest.Befriend(t, alice, bob)
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "a1", "hello bob, alice here"); err != nil {
		t.Fatal(err)
	}
	ua := nodetest.UserID(t, alice)
	wait.For(t, "alice's message request at bob, as hers", func() error {
		cs, err := bob.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.UserID != ua {
				continue
			}
			if c.IdentityChanged {
				return fmt.Errorf("alice is someone's identity change: %+v", c)
			}
			if b := bodies(t, bob.Client, c.ConversationID); len(b) != 1 || b[0] != "hello bob, alice here" {
				return fmt.Errorf("alice's conversation holds %q", b)
			}
			return nil
		}
		return fmt.Errorf("no contact of alice's among %d", len(cs))
	})
	// The planted member is still the planted identity in the group.
	c, err := bob.Client.Conversation(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range c.Members {
		if m.UserID == ua {
			t.Fatalf("alice became a member of carol's group: %+v", c.Members)
		}
		found = found || m.UserID == string(mallory.UserID())
	}
	if !found {
		t.Fatalf("the planted member is gone: %+v", c.Members)
	}
	arrives(t, bob, toBob.ConversationID, alice, toBob.ConversationID, "b1", "bob answers alice")
}

// TestEarlierReleaseContactProvesItsPeerAgain: a contact record written by the release
// before peer binding existed (no peer_proven) keeps working: messages flow both ways, the
// contact's next direct message proves its peer, and from then on an identity change on
// that peer warns as before.
func TestEarlierReleaseContactProvesItsPeerAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toAlice := chatted(t, alice, bob)
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("alice's contacts: %v %v", cs, err)
	}
	aliceConv := cs[0].ConversationID
	bob.Stop()
	bob.UpdateStore(t, func(tx *store.Tx) error {
		k := []byte("ct/" + toAlice.ID)
		raw, err := tx.Get(k)
		if err != nil {
			return err
		}
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if rec["peer_proven"] != true {
			return fmt.Errorf("the record does not say its peer is proven: %s", raw)
		}
		delete(rec, "peer_proven")
		raw, err = json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Set(k, raw)
	})
	bob.Run()
	arrives(t, bob, toAlice.ConversationID, alice, aliceConv, "b-old", "bob from an old record")
	arrives(t, alice, aliceConv, bob, toAlice.ConversationID, "a-old", "alice proves her peer")
	alice.Stop()
	mallory := nodetest.StartImpostor(t, alice, "mallory")
	mToBob := nodetest.Befriend(t, mallory, bob)
	if _, err := mallory.Client.Send(ctx, mToBob.ConversationID, "m1", "new phone"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob flags the identity change", func() error {
		if c := contactOf(t, bob, toAlice.ID); !c.IdentityChanged {
			return errors.New("not flagged")
		}
		return nil
	})
}
