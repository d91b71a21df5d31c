package messenger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/eventlog"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// testMessenger is a Messenger on its own encrypted store, never Run: the test carries
// the contents of its outbox to the others itself (what the pairwise sessions would carry,
// before encryption), so the group logic runs without a network.
func testMessenger(t *testing.T, name string) *Messenger {
	t.Helper()
	st, err := store.Create(t.TempDir(), []byte("test passphrase "+name), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(context.Background(), Config{Store: st, Events: ev, Identity: id, Profile: func() string { return name }})
	if err != nil {
		t.Fatal(err)
	}
	// A host that listens nowhere: the node's card needs its peer id.
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	m.host = h
	return m
}

// introduce makes b a contact of a (accepted, with a fake peer id).
func introduce(t *testing.T, a, b *Messenger, peerID string) {
	t.Helper()
	err := a.st.Update(context.Background(), func(tx *store.Tx) error {
		_, _, err := a.contactFor(tx, b.id.Public(), peerID, api.RequestAccepted)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shuttle delivers every queued content between the messengers until none is left.
func shuttle(t *testing.T, ms ...*Messenger) {
	t.Helper()
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		moved := 0
		for _, from := range ms {
			for { // what a large change owes members (the group service's job)
				more, err := from.groups.DrainFanout(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
			}
		}
		for _, from := range ms {
			type item struct {
				key     []byte
				cid     string
				content []byte
			}
			var items []item
			_ = from.st.View(func(tx *store.Tx) error {
				return tx.Iterate(store.IterOptions{Prefix: []byte("ob/")}, func(k, v []byte) (bool, error) {
					var o outq.Entry
					if err := json.Unmarshal(v, &o); err != nil {
						return false, err
					}
					cid := string(k[3 : len(k)-9])
					items = append(items, item{bytes.Clone(k), cid, o.Content})
					return true, nil
				})
			})
			for _, it := range items {
				var toUID string
				_ = from.st.View(func(tx *store.Tx) error {
					c, err := sessions.LoadContact(tx, it.cid)
					if err == nil {
						toUID = c.UserID
					}
					return nil
				})
				if !slices.ContainsFunc(ms, func(x *Messenger) bool { return x.uid == toUID }) {
					continue // to a member whose node is not here: it stays queued
				}
				for _, to := range ms {
					if to.uid != toUID {
						continue
					}
					ct, err := wire.ParseContent(it.content)
					if err != nil {
						t.Fatal(err)
					}
					err = to.st.Update(ctx, func(tx *store.Tx) error {
						cid, err := store.GetString(tx, contacts.KeyByUser(from.uid))
						if err != nil || cid == "" {
							return errors.New("no contact for the sender")
						}
						c, err := sessions.LoadContact(tx, cid)
						if err != nil {
							return err
						}
						if ct.Kind == wire.KindGroupOps || ct.Kind == wire.KindGroupSync || ct.Kind == wire.KindGroupKey ||
							ct.Kind == wire.KindGroupMsg || ct.Kind == wire.KindGroupResend || ct.Kind == wire.KindGroupReceipt {
							if err := to.groups.Apply(tx, to.groupPairwise(tx, txContacts{c.ID: c}), c.UserID, ct); err != nil {
								return err
							}
						}
						return sessions.SaveContact(tx, c)
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := from.st.Update(ctx, func(tx *store.Tx) error { return tx.Delete(it.key) }); err != nil {
					t.Fatal(err)
				}
				moved++
			}
		}
		if moved == 0 {
			return
		}
	}
	t.Fatal("contents still moving after 20 rounds")
}

// lastEnvelope is the newest group envelope m sent in gid.
func lastEnvelope(t *testing.T, m *Messenger, gid string) []byte {
	t.Helper()
	var env []byte
	_ = m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: kGroupSentPrefix(gid), Reverse: true}, func(_, v []byte) (bool, error) {
			env = v
			return false, nil
		})
	})
	if env == nil {
		t.Fatal("no envelope")
	}
	return env
}

func receiverOf(t *testing.T, m *Messenger, gid, uid string) []byte {
	t.Helper()
	var b []byte
	_ = m.st.View(func(tx *store.Tx) error {
		var err error
		b, err = tx.Get(kGroupRecv(gid, uid))
		return err
	})
	return b
}

func send(t *testing.T, m *Messenger, gid, client, body string) []byte {
	t.Helper()
	if _, _, err := m.Send(context.Background(), api.SendRequest{ConversationID: gid, ClientMsgID: client, Body: body}); err != nil {
		t.Fatal(err)
	}
	return lastEnvelope(t, m, gid)
}

func opens(t *testing.T, state []byte, env []byte) bool {
	t.Helper()
	rs, err := senderkey.UnmarshalReceiver(state)
	if err != nil {
		t.Fatal(err)
	}
	skm, err := wire.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rs.Decrypt(skm)
	return err == nil
}

// TestRemovedMemberCannotReadLaterMessages runs the group logic of three nodes (state
// fold, key distribution and rotation) and checks, with the chains the removed member held
// just before its removal — as if its node had kept every key — that it can open nothing
// the others send afterwards, while the remaining members can.
func TestRemovedMemberCannotReadLaterMessages(t *testing.T) {
	a, b, c := testMessenger(t, "a"), testMessenger(t, "b"), testMessenger(t, "c")
	peers := map[*Messenger]string{a: "12D3KooWa", b: "12D3KooWb", c: "12D3KooWc"}
	for _, x := range []*Messenger{a, b, c} {
		for _, y := range []*Messenger{a, b, c} {
			if x != y {
				introduce(t, x, y, peers[y])
			}
		}
	}
	conv, err := a.CreateGroup(context.Background(), "trio", []string{b.uid, c.uid})
	if err != nil {
		t.Fatal(err)
	}
	gid := conv.ID
	shuttle(t, a, b, c)

	before := send(t, a, gid, "a1", "before")
	bBefore := send(t, b, gid, "b1", "before too")
	cHeldA, cHeldB := receiverOf(t, c, gid, a.uid), receiverOf(t, c, gid, b.uid)
	if cHeldA == nil || cHeldB == nil || !opens(t, cHeldA, before) || !opens(t, cHeldB, bBefore) {
		t.Fatal("a member could not read the group before any change")
	}

	if _, err := a.ChangeMembers(context.Background(), gid, nil, []string{c.uid}); err != nil {
		t.Fatal(err)
	}
	shuttle(t, a, b, c)
	if receiverOf(t, c, gid, a.uid) != nil || receiverOf(t, b, gid, c.uid) != nil {
		t.Fatal("keys of the removed member's side were kept")
	}

	afterA := send(t, a, gid, "a2", "after")
	afterB := send(t, b, gid, "b2", "after too")
	if opens(t, cHeldA, afterA) || opens(t, cHeldB, afterB) {
		t.Fatal("the removed member's old chains open a message sent after its removal")
	}
	if !opens(t, receiverOf(t, b, gid, a.uid), afterA) || !opens(t, receiverOf(t, a, gid, b.uid), afterB) {
		t.Fatal("remaining members cannot read each other after the rotation")
	}
	if _, _, err := c.Send(context.Background(), api.SendRequest{ConversationID: gid, ClientMsgID: "c2", Body: "x"}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("removed member sending: %v", err)
	}
}
