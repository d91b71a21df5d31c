package devicelink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// fillHistory writes n conversations' worth of history records to p's store, plus the
// records that must never leave it.
func fillHistory(t testing.TB, st *store.Store, n int, valueSize int) {
	t.Helper()
	for from := 0; from < n; from += 100 { // in transactions Badger takes
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for i := from; i < min(n, from+100); i++ {
				for _, kv := range [][2]string{
					{fmt.Sprintf("cv/c%03d", i), fmt.Sprintf(`{"v":1,"id":"c%03d"}`, i)},
					{fmt.Sprintf("mo/c%03d/%020d", i, i), fmt.Sprintf("m%03d", i)},
					{fmt.Sprintf("ms/m%03d", i), fmt.Sprintf(`{"v":1,"id":"m%03d","body":"%s"}`, i, bytes.Repeat([]byte("x"), valueSize))},
					{fmt.Sprintf("ct/k%03d", i), `{"v":1}`},
					{fmt.Sprintf("ss/k%03d/0", i), "ratchet state: never transferred"},
				} {
					if err := tx.Set([]byte(kv[0]), []byte(kv[1])); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, k := range []string{"cfg/identity", "cfg/p2pkey", "cfg/apitoken", "pk", "gk/g1", "settingsX"} {
			if err := tx.Set([]byte(k), []byte("secret: never transferred")); err != nil {
				return err
			}
		}
		return tx.Set([]byte("settings"), []byte(`{"theme":"dark"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantTransferred is what a new device must hold after the transfer: exactly the
// primary's history records.
func wantTransferred(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	want := map[string]string{}
	for k, v := range records(t, st) {
		if Transferred([]byte(k)) {
			want[k] = v
		}
	}
	return want
}

func sameRecords(t testing.TB, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("new device holds %d records, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("record %q: %.40q, want %.40q", k, got[k], v)
		}
	}
}

// TestJoinLinksAndTransfersHistory: a new device linked with a fresh link is added to the
// account's list, learns the account key and the signed list, and holds the primary's
// history records and nothing else (no sessions, prekeys, identity or API token).
func TestJoinLinksAndTransfersHistory(t *testing.T) {
	p := startPrimary(t)
	fillHistory(t, p.st, 20, 100)
	d := startDevice(t)
	j, err := d.join(p.issue(t), JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !j.Done || !j.Account.Equal(p.account.Public()) || len(j.List.List.Active()) != 2 || p.devs.added() != 1 {
		t.Fatalf("joined %+v, adds %d", j, p.devs.added())
	}
	dev, ok := j.List.List.FindPeer(d.h.ID().String())
	if !ok || dev.ID != wire.DeviceID(d.key.Public()) || dev.Name != "laptop" {
		t.Fatalf("list entry %+v", dev)
	}
	got := records(t, d.st)
	sameRecords(t, got, wantTransferred(t, p.st))
	for k := range got {
		if !Transferred([]byte(k)) {
			t.Errorf("record %q reached the new device", k)
		}
	}
	if _, pending, _ := Pending(d.st); pending {
		t.Error("transfer still pending after Done")
	}
}

// TestStolenLinkAfterRealDeviceRefused: a thief who photographed the link and uses it
// after the real device is refused, and the account's list does not change.
func TestStolenLinkAfterRealDeviceRefused(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	if _, err := startDevice(t).join(l, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	thief := startDevice(t)
	if _, err := thief.join(l, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("thief: %v, want ErrRefused", err)
	}
	if p.devs.added() != 1 {
		t.Fatalf("%d devices added, want 1", p.devs.added())
	}
	if len(records(t, thief.st)) != 0 {
		t.Fatal("the thief received records")
	}
}

// TestLinkUsedTwiceRefused: the same device cannot use a link a second time.
func TestLinkUsedTwiceRefused(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	d := startDevice(t)
	if _, err := d.join(l, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.join(l, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("second use: %v, want ErrRefused", err)
	}
	if p.devs.added() != 1 {
		t.Fatalf("%d devices added, want 1", p.devs.added())
	}
}

// TestExpiredLinkRefused: past its ten minutes, the primary refuses a link even from a
// device whose clock says it is still valid; a device that knows it expired does not dial.
func TestExpiredLinkRefused(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	if got := l.Expires.Sub(p.clock.Now()); got > LinkTTL || got < LinkTTL-time.Second {
		t.Fatalf("link valid for %v, want %v", got, LinkTTL)
	}
	p.clock.add(LinkTTL + time.Second)
	d := startDevice(t)
	early := func() time.Time { return l.Expires.Add(-time.Minute) }
	if _, err := d.join(l, JoinOptions{Now: early}); !errors.Is(err, ErrRefused) {
		t.Fatalf("expired at the primary: %v, want ErrRefused", err)
	}
	if _, err := d.join(l, JoinOptions{Now: p.clock.Now}); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired here: %v, want ErrExpired", err)
	}
	if p.devs.added() != 0 {
		t.Fatal("a device was added with an expired link")
	}
}

// rawHello sends h as the hello from host from and returns the primary's answer.
func rawHello(t testing.TB, from host.Host, l *Link, h hello) (*welcome, error) {
	t.Helper()
	s, err := dial(context.Background(), from, l.PeerID, l.Addrs, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	br, bw := bufio.NewReader(s), bufio.NewWriter(s)
	if err := writeJSON(bw, typeHello, h); err != nil {
		t.Fatal(err)
	}
	return readWelcome(br)
}

func goodHello(d *newDevice, l *Link, as peer.ID) hello {
	key := proofKey(l.Secret[:])
	dk := d.key.Public().Bytes()
	return hello{V: 1, Link: l.ID(), Key: dk, Name: "laptop", Proof: proof(key[:], labelNewProof, l.PeerID, as, dk),
		Sig: d.key.Sign(domainHello, helloTranscript(l.PeerID, as, dk, l.ID()))}
}

// TestWrongProofRefusedAndBurnsLink: a wrong proof is refused, and MaxAttempts of them
// burn the link so that guessing cannot go on (even the right proof is refused after).
func TestWrongProofRefusedAndBurnsLink(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	d := startDevice(t)
	for i := range MaxAttempts {
		h := goodHello(d, l, d.h.ID())
		h.Proof[i%32] ^= 1
		if _, err := rawHello(t, d.h, l, h); !errors.Is(err, ErrRefused) {
			t.Fatalf("wrong proof %d: %v, want ErrRefused", i, err)
		}
	}
	if _, err := d.join(l, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("right proof after %d wrong ones: %v, want ErrRefused", MaxAttempts, err)
	}
	if p.devs.added() != 0 {
		t.Fatal("a device was added")
	}
}

// TestProofForAnotherPeerRefused: a relay (or anyone) that saw a device's hello and
// replays it from its own peer id is refused — the proof is bound to the peer id Noise
// proves — and the real device can still link afterwards. A proof bound to another device
// key (a swapped key) is refused too.
func TestProofForAnotherPeerRefused(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	d := startDevice(t)
	relay := newHost(t)
	if _, err := rawHello(t, relay, l, goodHello(d, l, d.h.ID())); !errors.Is(err, ErrRefused) {
		t.Fatalf("replayed hello: %v, want ErrRefused", err)
	}
	other := startDevice(t)
	swapped := goodHello(d, l, d.h.ID())
	swapped.Key = other.key.Public().Bytes()
	if _, err := rawHello(t, d.h, l, swapped); !errors.Is(err, ErrRefused) {
		t.Fatalf("hello with a swapped key: %v, want ErrRefused", err)
	}
	if p.devs.added() != 0 {
		t.Fatal("a device was added from a replay")
	}
	if _, err := d.join(l, JoinOptions{}); err != nil {
		t.Fatalf("the real device after a replay: %v", err)
	}
}

// TestResumeAfterCut: a transfer cut after its first chunk resumes with the resume
// credential where it stopped, and ends with the same records as an uncut one; the resume
// credential works only from the device's own peer id, and only until the transfer is done.
func TestResumeAfterCut(t *testing.T) {
	p := startPrimary(t)
	fillHistory(t, p.st, 120, 4096) // about 500 KiB: several chunks
	d := startDevice(t)
	j, err := d.join(p.issue(t), JoinOptions{cutAfter: 1})
	if err == nil || j == nil || j.Done {
		t.Fatalf("cut transfer: %+v, %v", j, err)
	}
	partial := len(records(t, d.st))
	if partial == 0 || partial >= len(wantTransferred(t, p.st)) {
		t.Fatalf("%d records after the cut", partial)
	}
	if _, pending, _ := Pending(d.st); !pending {
		t.Fatal("not pending after a cut")
	}
	// The credential in d's store, used from another host: refused.
	thief := newHost(t)
	if _, err := Resume(context.Background(), thief, d.st, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("resume from another peer: %v, want ErrRefused", err)
	}
	n, err := Resume(context.Background(), d.h, d.st, JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(wantTransferred(t, p.st))-partial {
		t.Fatalf("resume wrote %d records, want %d (none twice)", n, len(wantTransferred(t, p.st))-partial)
	}
	sameRecords(t, records(t, d.st), wantTransferred(t, p.st))
	if _, pending, _ := Pending(d.st); pending {
		t.Fatal("pending after the resume")
	}
	if n, err := Resume(context.Background(), d.h, d.st, JoinOptions{}); n != 0 || err != nil {
		t.Fatalf("resume after done: %d, %v", n, err)
	}
}

// TestFailedAddSpendsLink: when the account cannot add the device, the device is refused
// and the link is spent (a new link is needed), never half used.
func TestFailedAddSpendsLink(t *testing.T) {
	p := startPrimary(t)
	p.devs.fails = true
	l := p.issue(t)
	d := startDevice(t)
	if _, err := d.join(l, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("failed add: %v, want ErrRefused", err)
	}
	p.devs.fails = false
	if _, err := d.join(l, JoinOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("the link after a failed add: %v, want ErrRefused", err)
	}
}

// TestHelloWithAKeyNotHeldRefused: someone holding the link cannot list a key it does not
// hold as the new device's key (a contact's public identity, say): the hello must be
// signed by that key, and one that is not is refused like a wrong proof.
func TestHelloWithAKeyNotHeldRefused(t *testing.T) {
	p := startPrimary(t)
	l := p.issue(t)
	thief, victim := startDevice(t), startDevice(t)
	h := goodHello(victim, l, thief.h.ID()) // the victim's key, a valid HMAC for the thief's peer id
	h.Sig = thief.key.Sign(domainHello, helloTranscript(l.PeerID, thief.h.ID(), h.Key, h.Link))
	if _, err := rawHello(t, thief.h, l, h); !errors.Is(err, ErrRefused) {
		t.Fatalf("hello with a key not held: %v, want ErrRefused", err)
	}
	if p.devs.added() != 0 {
		t.Fatal("a device was added under a key its sender does not hold")
	}
	if _, err := thief.join(l, JoinOptions{}); err != nil {
		t.Fatalf("the same sender with its own key: %v", err)
	}
}

// TestWelcomeWithoutTheDeviceRefused: a primary that proves the secret but hands over a
// list that does not list this device (another key in its place) is not believed: Join
// fails with ErrBadPrimary, runs no Provision and writes no history.
func TestWelcomeWithoutTheDeviceRefused(t *testing.T) {
	p := startPrimary(t)
	fillHistory(t, p.st, 3, 10)
	other := startDevice(t)
	p.devs.other = &wire.Device{ID: wire.DeviceID(other.key.Public()), Key: other.key.Public().Bytes(),
		PeerID: other.h.ID().String(), Name: "someone else", Added: 1}
	d := startDevice(t)
	provisioned := false
	_, err := d.join(p.issue(t), JoinOptions{Provision: func(*store.Tx, *identity.PublicIdentity, []byte) error {
		provisioned = true
		return nil
	}})
	if !errors.Is(err, ErrBadPrimary) {
		t.Fatalf("a list without this device: %v, want ErrBadPrimary", err)
	}
	if provisioned || len(records(t, d.st)) != 0 {
		t.Fatal("the device took a welcome that does not list it")
	}
	if linked, _, _ := Pending(d.st); linked {
		t.Fatal("the device saved the welcome")
	}
}
