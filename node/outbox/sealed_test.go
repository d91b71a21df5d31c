package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *movingClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestDisappearingContentSealedAtRest: a text with a timer is stored in the outbox entry
// and the resend history sealed under its expiry's bucket key, never in the clear; it is
// encrypted for the contact from the sealed copy and a resend request queues it again;
// once the bucket's key is destroyed, a resend skips it and encrypting it is ErrGone. A
// text without a timer is stored as before.
func TestDisappearingContentSealedAtRest(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	clk := &movingClock{now: time.Now()}
	kr, err := shredkeys.Open(ctx, p.st, shredkeys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	const secret = "a secret with a timer"
	var c Contact
	p.update(t, func(tx *store.Tx) error {
		c, err = book{}.Contact(tx, "bob")
		if err != nil {
			return err
		}
		c.Sealer = kr
		ts := hlc.New(clk.Now).Now().String()
		for _, ct := range []*wire.Content{
			{Kind: wire.KindText, ID: "t1", TS: ts, Body: secret, Expire: 60},
			{Kind: wire.KindText, ID: "t2", TS: ts, Body: "no timer"},
		} {
			if _, err := Enqueue(tx, &c, ct, ct.ID, 1, nil); err != nil {
				return err
			}
		}
		return nil
	})
	p.view(t, func(tx *store.Tx) error {
		for _, k := range [][]byte{Key("bob", 1), SentKey("bob", 1)} {
			v, err := tx.Get(k)
			if err != nil {
				return err
			}
			var e Entry
			if json.Unmarshal(v, &e) == nil && e.Content != nil {
				v = e.Content // the ob/ entry's content (base64 in its JSON)
			}
			if bytes.Contains(v, []byte("secret")) {
				t.Errorf("%q holds the content in the clear", k)
			}
		}
		if v, _ := tx.Get(SentKey("bob", 2)); !bytes.Contains(v, []byte("no timer")) {
			t.Errorf("a content without a timer is not stored as before: %q", v)
		}
		return nil
	})
	items := p.entries(t)
	if len(items) != 2 || !items[0].Entry.Sealed || items[1].Entry.Sealed {
		t.Fatalf("entries %+v", items)
	}
	plain, err := Plain(kr, "bob", &items[0].Entry)
	if err != nil || !bytes.Contains(plain, []byte(secret)) {
		t.Fatalf("opened: %q %v", plain, err)
	}
	p.view(t, func(tx *store.Tx) error {
		s0, err := p.ratchets.Load(tx, "bob", sessions.Current)
		if err != nil {
			return err
		}
		e := items[0].Entry
		if err := SealFrom(s0, &e, kr, "bob", nil, nil); err != nil || e.Cipher == nil {
			t.Errorf("encrypting the sealed entry: %v", err)
		}
		if err := Seal(s0, &items[0].Entry, nil, nil); err == nil {
			t.Error("Seal encrypted the sealed bytes themselves")
		}
		return nil
	})
	p.update(t, func(tx *store.Tx) error {
		n, err := Requeue(tx, &c, 1, 2, 2)
		if err != nil || n != 2 {
			t.Errorf("a resend before the expiry queued %d, %v", n, err)
		}
		return nil
	})
	clk.add(3 * time.Hour)
	if _, err := kr.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	p.update(t, func(tx *store.Tx) error {
		n, err := Requeue(tx, &c, 1, 2, 3)
		if err != nil || n != 1 {
			t.Errorf("a resend after the key is destroyed queued %d, %v (want only the one without a timer)", n, err)
		}
		return nil
	})
	if _, err := Plain(kr, "bob", &items[0].Entry); !errors.Is(err, ErrGone) {
		t.Fatalf("after the key is destroyed: %v, want ErrGone", err)
	}
}

// TestEditAndReactionInheritTheTimer: an edit or a reaction that carries its target's
// timer expires like a text sent then (so it is sealed at rest and deposited with its
// expiry); a delete, a receipt or a timer change never expires.
func TestEditAndReactionInheritTheTimer(t *testing.T) {
	ts := hlc.Timestamp{Wall: 1_800_000_000_000}
	for _, c := range []struct {
		kind string
		want int64
	}{
		{wire.KindText, ts.Wall + 30_000},
		{wire.KindEdit, ts.Wall + 30_000},
		{wire.KindReaction, ts.Wall + 30_000},
		{wire.KindDelete, 0},
		{wire.KindReceipt, 0},
		{wire.KindDisappear, 0},
	} {
		ct := &wire.Content{Kind: c.kind, TS: ts.String(), Expire: 30}
		if got := ExpiryOf(ct); got != c.want {
			t.Errorf("%s with a 30 s timer expires at %d, want %d", c.kind, got, c.want)
		}
		if ct.Expire = 0; ExpiryOf(ct) != 0 {
			t.Errorf("%s without a timer expires", c.kind)
		}
	}
}

// TestDisappearingCiphertextSealedAtRest: the ratchet ciphertext of a disappearing content
// (encrypted when queued, or later by the worker) is stored sealed under the content's
// bucket, so that an older session record in Badger's value log opens nothing once the key
// is destroyed; the queue hands the opened ciphertext on, and drops the entry once the key
// is gone.
func TestDisappearingCiphertextSealedAtRest(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	clk := &movingClock{now: time.Now()}
	kr, err := shredkeys.Open(ctx, p.st, shredkeys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	for i, withSession := range []bool{true, false} {
		p.update(t, func(tx *store.Tx) error {
			c, err := book{}.Contact(tx, "bob")
			if err != nil {
				return err
			}
			c.Sealer = kr
			var s0 *ratchet.State
			if withSession {
				if s0, err = p.ratchets.Load(tx, "bob", sessions.Current); err != nil {
					return err
				}
			}
			ct := &wire.Content{Kind: wire.KindText, ID: fmt.Sprint("d", i), TS: hlc.New(clk.Now).Now().String(), Body: "secret", Expire: 60}
			sealed, err := Enqueue(tx, &c, ct, ct.ID, clk.Now().UnixMilli(), s0)
			if err != nil {
				return err
			}
			c.Sealer = nil // the keyring is not part of the stored contact
			if err := store.PutJSON(tx, kTestContact("bob"), &c); err != nil {
				return err
			}
			if sealed {
				return p.ratchets.Save(tx, "bob", sessions.Current, s0)
			}
			return nil
		})
	}
	q := New(ctx, Config{Store: p.st, Ratchets: p.ratchets, Contacts: book{}, Sealer: kr,
		Session: func(context.Context, string) error { return nil }, Status: setStatus, Identity: p.alice, Now: clk.Now})
	sent, err := q.Encrypt(ctx, "bob", p.entries(t))
	if err != nil || len(sent) != 2 {
		t.Fatalf("encrypt: %d entries, %v", len(sent), err)
	}
	for i, it := range p.entries(t) {
		e := it.Entry
		if !e.CipherSealed || e.Cipher == nil || bytes.Equal(e.Cipher, sent[i].Entry.Cipher) || sent[i].Entry.CipherSealed {
			t.Fatalf("entry %d: stored ciphertext not sealed, or handed on sealed: %+v", i, e)
		}
		if ct, err := kr.Open(e.Cipher, cipherAD("bob", e.Seq)); err != nil || !bytes.Equal(ct, sent[i].Entry.Cipher) {
			t.Fatalf("entry %d: the sealed ciphertext does not open to what is sent: %v", i, err)
		}
	}
	clk.add(3 * time.Hour)
	if _, err := kr.Sweep(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if sent, err := q.Encrypt(ctx, "bob", p.entries(t)); err != nil || len(sent) != 0 {
		t.Fatalf("after the key is destroyed: %d entries to send, %v", len(sent), err)
	}
	if left := p.entries(t); len(left) != 0 {
		t.Fatalf("%d expired entries left in the outbox", len(left))
	}
}
