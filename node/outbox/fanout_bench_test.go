package outbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// BenchmarkFanout is the cost of one message to a person with n devices (docs/PROTOCOL.md,
// "Linked devices"): one durable store Update that, for each of the person's devices,
// loads its channel, queues the content and encrypts it at once under that device's own
// session and saves the session — what node/messenger's send does per device — against the
// raw baseline of the same n ratchet encryptions with no store. Run with
//
//	go test -run '^$' -bench BenchmarkFanout -benchtime 200x -count 3 ./node/outbox/
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 6} {
		b.Run(fmt.Sprintf("store/devices=%d", n), func(b *testing.B) { benchFanout(b, n, true) })
		b.Run(fmt.Sprintf("raw-encrypt/devices=%d", n), func(b *testing.B) { benchFanout(b, n, false) })
	}
}

func benchFanout(b *testing.B, n int, durable bool) {
	st, err := store.Create(b.TempDir(), []byte("outbox bench passphrase"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	alice, err := identity.Generate()
	if err != nil {
		b.Fatal(err)
	}
	ratchets := &sessions.Cache{}
	raw := make([]*ratchet.State, n)
	chans := make([]string, n)
	for i := range n {
		dev, err := identity.Generate()
		if err != nil {
			b.Fatal(err)
		}
		keys, err := prekey.NewStore(dev, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		s0, initial, err := pqxdh.Initiate(alice, keys.Bundle())
		if err != nil {
			b.Fatal(err)
		}
		raw[i], chans[i] = s0.Clone(), fmt.Sprintf("bob~d%d", i)
		err = st.Update(context.Background(), func(tx *store.Tx) error {
			c := Contact{ID: chans[i], Initial: initial, Identity: dev.Public().Bytes()}
			if err := store.PutJSON(tx, kTestContact(chans[i]), &c); err != nil {
				return err
			}
			return ratchets.Save(tx, chans[i], sessions.Current, s0)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	body := "a message of ordinary length, about a hundred bytes, to every device of one person."
	b.ReportAllocs()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		content := wire.Content{Kind: wire.KindText, ID: fmt.Sprintf("m%d", it), TS: ts(), Body: body}
		if !durable {
			pt, err := (&wire.Content{Kind: content.Kind, ID: content.ID, Seq: 1, TS: content.TS, Body: body}).Marshal()
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range raw {
				if _, err := s.Encrypt(pt); err != nil {
					b.Fatal(err)
				}
			}
			continue
		}
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for _, ch := range chans {
				c, err := book{}.Contact(tx, ch)
				if err != nil {
					return err
				}
				s0, err := ratchets.Load(tx, ch, sessions.Current)
				if err != nil {
					return err
				}
				cp := content
				if _, err := Enqueue(tx, &c, &cp, content.ID, 1, s0); err != nil {
					return err
				}
				if err := store.PutJSON(tx, kTestContact(ch), &c); err != nil {
					return err
				}
				if err := ratchets.Save(tx, ch, sessions.Current, s0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
