package attachments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// mediaNode is a media store on its own encrypted store and a listening host.
type mediaNode struct {
	st *store.Store
	ms *media.Store
	h  host.Host
}

func newMediaNode(t *testing.T) *mediaNode {
	t.Helper()
	st := storetest.Open(t)
	ms, err := media.New(st, t.TempDir(), media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &mediaNode{st: st, ms: ms, h: h}
}

// runningReceiver is a Service with a media store and an event log, Run on a real host
// until the test ends; a message is saved as the messenger saves one (history.PutItem).
func runningReceiver(t *testing.T) (*Service, *mediaNode) {
	t.Helper()
	n := newMediaNode(t)
	s := newService(t, n.st, n.ms)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, n.h)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, n
}

// newService is a Service over st and ms with its own event log and identity.
func newService(t testing.TB, st *store.Store, ms *media.Store) *Service {
	t.Helper()
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: st, Media: ms, Events: ev, Identity: id,
		SaveMessage: func(tx *store.Tx, r *history.Item) error { return history.PutItem(tx, nil, r) }})
}

// receive records message msgID with the raw attachments as if it came from peer from.
func receive(t *testing.T, m *Service, msgID, from string, raws ...[]byte) []api.Attachment {
	t.Helper()
	return receiveVia(t, m, msgID, from, nil, raws...)
}

// receiveVia is receive with the sender's home relays.
func receiveVia(t *testing.T, m *Service, msgID, from string, relays []string, raws ...[]byte) []api.Attachment {
	t.Helper()
	var out []api.Attachment
	err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		var rs []json.RawMessage
		for _, r := range raws {
			rs = append(rs, r)
		}
		out = m.Received(tx, msgID, from, relays, rs)
		msg := api.Message{ID: msgID, ConversationID: "cv", Attachments: out, Order: "o" + msgID, Reactions: map[string][]string{}}
		if err := tx.Set(history.KeyOrder(msg.ConversationID, msg.Order), []byte(msg.ID)); err != nil {
			return err
		}
		return history.PutItem(tx, nil, &history.Item{M: msg, Incoming: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mediaKeys(t *testing.T, st *store.Store) []string {
	t.Helper()
	var ks []string
	_ = st.View(func(tx *store.Tx) error {
		for _, p := range []string{"media/", "mq/"} {
			_ = tx.Iterate(store.IterOptions{Prefix: []byte(p)}, func(k, _ []byte) (bool, error) {
				ks = append(ks, string(k))
				return true, nil
			})
		}
		return nil
	})
	return ks
}

// senderFile puts a file in a sender's media store, serves it to everyone, and returns
// its manifest.
func senderFile(t *testing.T, s *mediaNode, size int) media.Manifest {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	a, err := s.ms.Put(context.Background(), bytes.NewReader(b), "f.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.ms.Serve(s.h, func(media.FetchRequest) bool { return true }))
	var mf media.Manifest
	_ = s.st.View(func(tx *store.Tx) error {
		mf, err = s.ms.Manifest(tx, a.MediaID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mf
}

func waitState(t *testing.T, m *Service, msgID string, want media.State) api.Attachment {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var r *history.Item
		_ = m.st.View(func(tx *store.Tx) error {
			var err error
			r, err = history.LoadItem(tx, nil, msgID)
			return err
		})
		if r != nil && len(r.M.Attachments) == 1 && r.M.Attachments[0].State == string(want) {
			return r.M.Attachments[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: attachments %+v, want state %s", msgID, r.M.Attachments, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A sender claiming a huge size, or a manifest that does not add up, is refused: the
// message keeps no attachment and nothing of it is stored or queued for download.
func TestReceivedHostileManifestsStoreNothing(t *testing.T) {
	m, n := runningReceiver(t)
	s := newMediaNode(t)
	mf := senderFile(t, s, 5000)
	huge := mf
	huge.Size = 1 << 40
	bad := mf
	bad.Chunks = append(bad.Chunks, bad.Chunks[0])
	shortKey := mf
	shortKey.Key = mf.Key[:5]
	var raws [][]byte
	for _, x := range []media.Manifest{huge, bad, shortKey} {
		b, _ := json.Marshal(wireAttachment{Manifest: x})
		raws = append(raws, b)
	}
	raws = append(raws, []byte(`{"file":"zz"}`))
	if got := receive(t, m, "m1", s.h.ID().String(), raws...); len(got) != 0 {
		t.Fatalf("hostile manifests gave attachments %+v", got)
	}
	if ks := mediaKeys(t, n.st); len(ks) != 0 {
		t.Fatalf("hostile manifests stored %v", ks)
	}
}

// A manifest whose sha256 is not the file's: every chunk arrives intact from the sender,
// and the file still ends failed, with the reason, never available.
func TestReceivedWrongSHA256Fails(t *testing.T) {
	m, n := runningReceiver(t)
	s := newMediaNode(t)
	mf := senderFile(t, s, 3<<20)
	mf.SHA256 = bytes.Repeat([]byte{7}, 32)
	n.h.Peerstore().AddAddrs(s.h.ID(), s.h.Addrs(), time.Hour)
	b, _ := json.Marshal(wireAttachment{Manifest: mf})
	got := receive(t, m, "m2", s.h.ID().String(), b)
	if len(got) != 1 || got[0].State != string(media.Downloading) {
		t.Fatalf("attachments %+v", got)
	}
	waitState(t, m, "m2", media.Failed)
	info, err := m.ms.Info(got[0].MediaID)
	if err != nil || !strings.Contains(info.Reason, "sha") {
		t.Fatalf("info %+v %v, want a failed sha256 reason", info, err)
	}
	if _, err := m.ms.Open(got[0].MediaID); err == nil {
		t.Fatal("a file that failed its sha256 opens")
	}
}

// The same file, with the right manifest, arrives from the sender; progress and completion
// are message_update events.
func TestReceivedFileFromSenderReportsProgress(t *testing.T) {
	m, n := runningReceiver(t)
	s := newMediaNode(t)
	mf := senderFile(t, s, 3<<20)
	n.h.Peerstore().AddAddrs(s.h.ID(), s.h.Addrs(), time.Hour)
	b, _ := json.Marshal(wireAttachment{Manifest: mf})
	receive(t, m, "m3", s.h.ID().String(), b)
	a := waitState(t, m, "m3", media.Available)
	if a.Size != mf.Size || a.Received != nil {
		t.Fatalf("attachment %+v", a)
	}
	evs, _, err := m.cfg.Events.Since(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, e := range evs {
		if e.Kind == api.KindMessageUpdate {
			updates++
		}
	}
	if updates == 0 {
		t.Fatalf("no message_update among %d events", len(evs))
	}
}

// A relay that serves other bytes than the chunk (here: a hostile sender's message names,
// for its padded chunk, a blob the relay really holds but that is not the chunk): the
// receiver checks what the relay sends against the chunk hash and the file fails, with the
// reason, instead of being stored. With the right blob id the same file arrives from the
// relay alone (the sender's node is not reachable).
func TestReceivedFromRelayWrongBytesFail(t *testing.T) {
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	relay := r.Info.Addrs[0]
	s := newMediaNode(t)
	mf := senderFile(t, s, 5000) // one chunk of 5028 bytes, padded to 8 KiB at the relay
	sid, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s.h.Peerstore().AddAddrs(r.ID(), r.AddrInfo().Addrs, time.Hour)
	if err := mailboxclient.Register(ctx, s.h, r.ID(), sid); err != nil {
		t.Fatal(err)
	}
	var ct []byte
	if err := s.ms.SealedChunks(senderMediaID(t, s), func(_ media.Hash, c []byte) error {
		ct = bytes.Clone(c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	good, err := mailboxclient.PutBlob(ctx, s.h, r.ID(), sid, padChunk(ct))
	if err != nil {
		t.Fatal(err)
	}
	other := make([]byte, len(padChunk(ct)))
	_, _ = rand.Read(other)
	bad, err := mailboxclient.PutBlob(ctx, s.h, r.ID(), sid, other)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := runningReceiver(t)
	unreachable := "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp" // no such node
	for _, tc := range []struct {
		msg  string
		blob [32]byte
		want media.State
	}{{"mbad", bad, media.Failed}, {"mgood", good, media.Available}} {
		wa := wireAttachment{Manifest: mf, Blobs: map[media.Hash]string{mf.Chunks[0]: hex.EncodeToString(tc.blob[:])}}
		b, _ := json.Marshal(wa)
		got := receiveVia(t, m, tc.msg, unreachable, []string{relay}, b)
		if len(got) != 1 {
			t.Fatalf("%s: attachments %+v", tc.msg, got)
		}
		waitState(t, m, tc.msg, tc.want)
		info, err := m.ms.Info(got[0].MediaID)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == media.Failed && !strings.Contains(info.Reason, "wrong bytes") {
			t.Fatalf("failed for %q, want the relay's wrong bytes named", info.Reason)
		}
	}
}

// senderMediaID is the one media id in a sender's store.
func senderMediaID(t *testing.T, s *mediaNode) string {
	t.Helper()
	var id string
	_ = s.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("media/m/")}, func(k, _ []byte) (bool, error) {
			id = string(k[len("media/m/"):])
			return false, nil
		})
	})
	if id == "" {
		t.Fatal("no media in the sender's store")
	}
	return id
}

// A deleted message lets go of its media (Drop): its references go (GC then removes the
// file), and so does its pending upload to the home relays.
func TestDeletedMessageUnrefsItsMedia(t *testing.T) {
	m, n := runningReceiver(t)
	s := newMediaNode(t)
	mf := senderFile(t, s, 5000)
	b, _ := json.Marshal(wireAttachment{Manifest: mf})
	if got := receive(t, m, "md", "", b); len(got) != 1 {
		t.Fatalf("attachments %+v", got)
	}
	refs := func() int {
		k := 0
		for _, key := range mediaKeys(t, n.st) {
			if strings.HasPrefix(key, "media/r/") {
				k++
			}
		}
		return k
	}
	if refs() == 0 {
		t.Fatal("a received attachment without a reference")
	}
	err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		r, err := history.LoadItem(tx, nil, "md")
		if err != nil {
			return err
		}
		return m.Drop(tx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if k := refs(); k != 0 {
		t.Fatalf("%d references left after the delete", k)
	}
}

// FuzzReceivedAttachment: whatever bytes a sender puts in an attachment, receiving it
// neither panics nor records an attachment the media store cannot describe.
func FuzzReceivedAttachment(f *testing.F) {
	good, _ := json.Marshal(wireAttachment{Manifest: media.Manifest{Key: make([]byte, 32), SHA256: make([]byte, 32),
		Size: 10, Chunks: []media.Hash{{1}}, Name: "a", MIME: "image/png"}})
	for _, s := range []string{string(good), `{}`, `{"size":-1}`, `{"size":1e30}`, `{"blobs":{"zz":"00"}}`,
		`{"thumbnail":{"thumbnail":{}}}`, `{"file":"00112233445566778899aabbccddeeff","chunks":[]}`} {
		f.Add([]byte(s))
	}
	st := storetest.Open(f)
	ms, err := media.New(st, f.TempDir(), media.Options{})
	if err != nil {
		f.Fatal(err)
	}
	m := newService(f, st, ms)
	n := 0
	f.Fuzz(func(t *testing.T, raw []byte) {
		n++
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for _, a := range m.Received(tx, fmt.Sprintf("m%d", n), "", nil, []json.RawMessage{raw}) {
				if _, err := ms.InfoTx(tx, a.MediaID); err != nil {
					t.Fatalf("attachment %+v: %v", a, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A sent message's attachments are referred to by it and queued for the home relays; a
// delete for everyone (Drop) lets go of both.
func TestSentQueuesUploadAndDropCancelsIt(t *testing.T) {
	n := newMediaNode(t)
	s := newService(t, n.st, n.ms)
	s.cfg.Relays = []string{"/ip4/127.0.0.1/tcp/1/p2p/" + n.h.ID().String()}
	a, err := n.ms.Put(context.Background(), bytes.NewReader(bytes.Repeat([]byte("x"), 5000)), "f.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	ids, raws, err := s.Resolve([]api.Attachment{{MediaID: a.MediaID}})
	if err != nil || len(ids) != 1 || len(raws) != 1 {
		t.Fatalf("resolve: %v %d %v", ids, len(raws), err)
	}
	var r *history.Item
	err = n.st.Update(context.Background(), func(tx *store.Tx) error {
		atts, err := s.Sent(tx, "ms1", ids)
		if err != nil {
			return err
		}
		if len(atts) != 1 || atts[0].MediaID != a.MediaID {
			t.Errorf("sent attachments %+v", atts)
		}
		r = &history.Item{M: api.Message{ID: "ms1", Attachments: atts}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	has := func(prefix string) bool {
		for _, k := range mediaKeys(t, n.st) {
			if strings.HasPrefix(k, prefix) {
				return true
			}
		}
		return false
	}
	if !has("mq/u/ms1") || !has("media/r/") {
		t.Fatalf("after sending: keys %v, want the upload job and a reference", mediaKeys(t, n.st))
	}
	if err := n.st.Update(context.Background(), func(tx *store.Tx) error { return s.Drop(tx, r) }); err != nil {
		t.Fatal(err)
	}
	if has("mq/u/") || has("media/r/") || len(r.M.Attachments) != 0 {
		t.Fatalf("after the delete: keys %v, attachments %+v", mediaKeys(t, n.st), r.M.Attachments)
	}
}

// Resolve refuses what a send may not carry: an unknown media id, more than
// wire.MaxAttachments, an attachment without an id, and any attachment on a node without
// a media store.
func TestResolveRefusals(t *testing.T) {
	n := newMediaNode(t)
	s := newService(t, n.st, n.ms)
	many := make([]api.Attachment, wire.MaxAttachments+1)
	for i := range many {
		many[i].MediaID = "x"
	}
	for name, req := range map[string][]api.Attachment{
		"unknown": {{MediaID: "no-such-media"}}, "too many": many, "no id": {{Name: "a"}},
	} {
		if _, _, err := s.Resolve(req); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("%s: %v, want bad_request", name, err)
		}
	}
	bare := newService(t, n.st, nil)
	if _, _, err := bare.Resolve([]api.Attachment{{MediaID: "x"}}); !errors.Is(err, api.ErrNotImplemented) {
		t.Errorf("no media store: %v, want not_implemented", err)
	}
}

// Authorize serves a file only to the proven peer of an unblocked contact whose
// conversation holds a message referring to it: not to a stranger, a peer only claimed
// for the contact, a blocked contact, or for a message of another conversation.
func TestAuthorizeOnlyProvenMembers(t *testing.T) {
	n := newMediaNode(t)
	s := newService(t, n.st, n.ms)
	peers := map[string]peer.ID{}
	for _, name := range []string{"proven", "claimed", "blocked", "stranger", "other"} {
		h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		peers[name] = h.ID()
		h.Close()
	}
	err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, name := range []string{"proven", "claimed", "blocked", "other"} {
			c := &contacts.Record{ID: "c-" + name, UserID: "u-" + name, ConvID: "v-" + name, Request: api.RequestAccepted,
				Blocked: name == "blocked"}
			if err := contacts.Create(tx, c); err != nil {
				return err
			}
			if err := contacts.SetPeer(tx, c, peers[name].String(), name != "claimed"); err != nil {
				return err
			}
			if err := contacts.Put(tx, c); err != nil {
				return err
			}
			msg := api.Message{ID: "m-" + name, ConversationID: c.ConvID, Reactions: map[string][]string{}}
			if err := history.PutItem(tx, nil, &history.Item{M: msg, ContactID: c.ID}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer, msg string
		want      bool
	}{
		{"proven", "m-proven", true},
		{"claimed", "m-claimed", false},
		{"blocked", "m-blocked", false},
		{"stranger", "m-proven", false},
		{"proven", "m-other", false}, // another contact's conversation
		{"proven", "no-such-message", false},
	} {
		if got := s.Authorize(media.FetchRequest{Peer: peers[tc.peer], Messages: []string{tc.msg}}); got != tc.want {
			t.Errorf("%s fetching for %s: %v, want %v", tc.peer, tc.msg, got, tc.want)
		}
	}
}
