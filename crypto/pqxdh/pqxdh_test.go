package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
)

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type party struct {
	id    *identity.Identity
	store *prekey.Store
}

func newParty(tb testing.TB) party {
	tb.Helper()
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := prekey.NewStore(id, now)
	if err != nil {
		tb.Fatal(err)
	}
	return party{id, st}
}

// bundle returns a verified bundle from p's store, as a directory would hand
// it out: with or without an X25519 one-time key, with a one-time or the
// last-resort ML-KEM key.
func (p party) bundle(tb testing.TB, withOPK, oneTimePQ bool) *prekey.Bundle {
	tb.Helper()
	var opk *prekey.OneTimePrekey
	if withOPK {
		k := p.store.OneTimePrekeys()[0]
		opk = &k
	}
	pq := p.store.LastResortPrekey()
	if oneTimePQ {
		pq = p.store.PQOneTimePrekeys()[0]
	}
	b, err := prekey.NewBundle(p.store.Identity(), p.store.SignedPrekey(), pq, opk)
	if err != nil {
		tb.Fatal(err)
	}
	b, err = prekey.ParseBundle(b.Marshal()) // through the wire
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// handshake runs Initiate, Respond and the first message, consuming keys.
func handshake(tb testing.TB, alice, bob party, b *prekey.Bundle) (a, r *ratchet.State, used []uint32) {
	tb.Helper()
	a, initial, err := Initiate(alice.id, b)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := a.Encrypt([]byte("hello"))
	if err != nil {
		tb.Fatal(err)
	}
	r, used, err = Respond(bob.id, bob.store, initial, now)
	if err != nil {
		tb.Fatalf("Respond: %v", err)
	}
	pt, err := r.Decrypt(m)
	if err != nil || string(pt) != "hello" {
		tb.Fatalf("first message: %q, %v", pt, err)
	}
	if err := bob.store.Consume(used); err != nil {
		tb.Fatal(err)
	}
	return a, r, used
}

// TestAgreement: both sides derive the same secret and associated data, with
// and without an X25519 one-time prekey and with a one-time or last-resort
// ML-KEM key, and the session carries messages both ways.
func TestAgreement(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	for _, c := range []struct {
		name           string
		opk, oneTimePQ bool
		wantUsed       int
	}{
		{"opk+pq one-time", true, true, 2},
		{"no opk, pq one-time", false, true, 1},
		{"opk, pq last resort", true, false, 1},
		{"no opk, pq last resort", false, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bob.bundle(t, c.opk, c.oneTimePQ)
			ek, _ := ecdh.X25519().GenerateKey(rand.Reader)
			skA, initial, err := initiate(alice.id, b, ek, randomEncaps)
			if err != nil {
				t.Fatal(err)
			}
			skB, _, m, used, err := respond(bob.id, bob.store, initial, now)
			if err != nil {
				t.Fatal(err)
			}
			if skA != skB {
				t.Fatal("initiator and responder derived different secrets")
			}
			if len(used) != c.wantUsed {
				t.Fatalf("used %v, want %d one-time keys", used, c.wantUsed)
			}
			adA := AssociatedData(alice.id.Public(), b.Identity())
			adB := AssociatedData(m.initiator, bob.id.Public())
			if !bytes.Equal(adA, adB) || len(adA) != 2*identity.KeySize {
				t.Fatal("associated data differs")
			}
			a, r, _ := handshake(t, alice, bob, b)
			if a.Params() != r.Params() {
				t.Fatal("session parameters differ")
			}
			for i := range 3 {
				m, _ := r.Encrypt([]byte{byte(i)})
				if pt, err := a.Decrypt(m); err != nil || pt[0] != byte(i) {
					t.Fatalf("reply %d: %v", i, err)
				}
				m, _ = a.Encrypt([]byte{byte(i)})
				if pt, err := r.Decrypt(m); err != nil || pt[0] != byte(i) {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		})
	}
}

// TestOneTimePrekeysSingleUse: an initial message naming consumed one-time
// keys (of either kind) is refused; the last-resort key keeps working.
func TestOneTimePrekeysSingleUse(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	for _, c := range []struct {
		name           string
		opk, oneTimePQ bool
	}{{"x25519 one-time", true, false}, {"ml-kem one-time", false, true}} {
		b := bob.bundle(t, c.opk, c.oneTimePQ)
		_, initial, err := Initiate(alice.id, b)
		if err != nil {
			t.Fatal(err)
		}
		_, used, err := Respond(bob.id, bob.store, initial, now)
		if err != nil || len(used) != 1 {
			t.Fatalf("%s: used %v, err %v", c.name, used, err)
		}
		if err := bob.store.Consume(used); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Respond(bob.id, bob.store, initial, now); !errors.Is(err, prekey.ErrUnknownPrekey) {
			t.Errorf("%s: replayed initial message: err = %v, want ErrUnknownPrekey", c.name, err)
		}
		// A fresh initiator handed the same (stale) bundle fails too.
		_, initial2, _ := Initiate(newParty(t).id, b)
		if _, _, err := Respond(bob.id, bob.store, initial2, now); !errors.Is(err, prekey.ErrUnknownPrekey) {
			t.Errorf("%s: stale bundle: err = %v", c.name, err)
		}
	}
	lr := bob.bundle(t, false, false)
	for range 3 {
		handshake(t, alice, bob, lr)
	}
}

// TestSignedPrekeyRotationGrace: a handshake against a rotated-out signed
// prekey succeeds within the grace period and is refused after it.
func TestSignedPrekeyRotationGrace(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	old := bob.bundle(t, false, false)
	if err := bob.store.Rotate(bob.id, now.Add(prekey.RotationInterval)); err != nil {
		t.Fatal(err)
	}
	_, initial, err := Initiate(alice.id, old)
	if err != nil {
		t.Fatal(err)
	}
	within := now.Add(prekey.RotationInterval + prekey.GracePeriod - time.Minute)
	if _, _, err := Respond(bob.id, bob.store, initial, within); err != nil {
		t.Errorf("within grace: %v", err)
	}
	after := now.Add(prekey.RotationInterval + prekey.GracePeriod)
	if _, _, err := Respond(bob.id, bob.store, initial, after); !errors.Is(err, prekey.ErrExpiredPrekey) {
		t.Errorf("after grace: err = %v, want ErrExpiredPrekey", err)
	}
}

// TestPrekeyAuthentication: Initiate refuses a bundle whose identity does not
// sign its prekeys (it cannot even be built), and Respond refuses a store of
// another identity.
func TestPrekeyAuthentication(t *testing.T) {
	alice, bob, mallory := newParty(t), newParty(t), newParty(t)
	spk := mallory.store.SignedPrekey()
	if _, err := prekey.NewBundle(bob.id.Public(), spk, bob.store.LastResortPrekey(), nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("foreign signed prekey: err = %v", err)
	}
	wire := bob.bundle(t, true, true).Marshal()
	wire[1+identity.PublicSize+50] ^= 1 // inside the signed prekey signature
	if _, err := prekey.ParseBundle(wire); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered bundle: err = %v", err)
	}
	if _, _, err := Initiate(alice.id, &prekey.Bundle{}); err == nil {
		t.Error("Initiate accepted an empty bundle")
	}
	_, initial, _ := Initiate(alice.id, bob.bundle(t, false, false))
	if _, _, err := Respond(mallory.id, bob.store, initial, now); !errors.Is(err, ErrWrongIdentity) {
		t.Errorf("store of another identity: err = %v", err)
	}
}

// TestIdentityBinding: an initial message whose initiator identity is swapped
// for another (validly signed) identity yields a session whose first message
// fails to authenticate; so does a responder that is not the addressee.
func TestIdentityBinding(t *testing.T) {
	alice, bob, mallory := newParty(t), newParty(t), newParty(t)
	a, initial, err := Initiate(alice.id, bob.bundle(t, true, true))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := a.Encrypt([]byte("secret"))
	swapped := bytes.Clone(initial)
	copy(swapped[2:2+identity.PublicSize], mallory.id.Public().Bytes())
	r, _, err := Respond(bob.id, bob.store, swapped, now)
	if err != nil {
		t.Fatal(err) // the handshake itself cannot tell
	}
	before := r.Marshal()
	if _, err := r.Decrypt(m); !errors.Is(err, ratchet.ErrDecrypt) {
		t.Errorf("swapped initiator identity: err = %v, want ErrDecrypt", err)
	}
	if !bytes.Equal(before, r.Marshal()) {
		t.Error("failed decrypt changed the state")
	}
	r, _, err = Respond(bob.id, bob.store, initial, now)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := r.Decrypt(m); err != nil || string(pt) != "secret" {
		t.Fatalf("honest session: %q, %v", pt, err)
	}
}

// TestInvalidKeysRefused: low-order and non-canonical ephemeral keys,
// unsupported suites and malformed messages are refused by Respond.
func TestInvalidKeysRefused(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	_, initial, err := Initiate(alice.id, bob.bundle(t, true, true))
	if err != nil {
		t.Fatal(err)
	}
	ekAt := 2 + identity.PublicSize
	hi := make([]byte, 32)
	hi[0], hi[31] = 9, 0x80
	one := make([]byte, 32)
	one[0] = 1
	for name, f := range map[string]func(b []byte) []byte{
		"zero ephemeral":     func(b []byte) []byte { copy(b[ekAt:], make([]byte, 32)); return b },
		"order-1 ephemeral":  func(b []byte) []byte { copy(b[ekAt:], one); return b },
		"high-bit ephemeral": func(b []byte) []byte { copy(b[ekAt:], hi); return b },
		"ml-kem-1024 suite":  func(b []byte) []byte { b[1] = SuiteX25519MLKEM1024; return b },
		"unknown suite":      func(b []byte) []byte { b[1] = 0x55; return b },
		"version":            func(b []byte) []byte { b[0] = 2; return b },
		"short ciphertext":   func(b []byte) []byte { return b[:len(b)-1] },
		"long ciphertext":    func(b []byte) []byte { return append(b, 0) },
		"unknown spk":        func(b []byte) []byte { b[ekAt+32] ^= 0x40; return b },
		"unknown pq key":     func(b []byte) []byte { b[ekAt+40] ^= 0x40; return b },
		"low-order initiator identity": func(b []byte) []byte {
			copy(b[2+33:], make([]byte, 32))
			return b
		},
	} {
		if _, _, err := Respond(bob.id, bob.store, f(bytes.Clone(initial)), now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := Respond(bob.id, bob.store, bytes.Clone(initial), now); err != nil {
		t.Fatalf("honest message refused: %v", err)
	}
}

// TestSimultaneousInitiationConverges: when both parties initiate at once,
// Resolve picks the same session on both sides, both in-flight first
// messages still decrypt, and the kept session carries messages both ways.
func TestSimultaneousInitiationConverges(t *testing.T) {
	for range 4 { // random identities: both orderings occur
		alice, bob := newParty(t), newParty(t)
		aInit, aHello, err := Initiate(alice.id, bob.bundle(t, true, true))
		if err != nil {
			t.Fatal(err)
		}
		bInit, bHello, err := Initiate(bob.id, alice.bundle(t, true, true))
		if err != nil {
			t.Fatal(err)
		}
		am, _ := aInit.Encrypt([]byte("from alice"))
		bm, _ := bInit.Encrypt([]byte("from bob"))
		// Each receives the other's initial message.
		aResp, used, err := Respond(alice.id, alice.store, bHello, now)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := aResp.Decrypt(bm); err != nil || string(pt) != "from bob" {
			t.Fatalf("alice reading bob's first message: %v", err)
		}
		alice.store.Consume(used)
		bResp, used, err := Respond(bob.id, bob.store, aHello, now)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := bResp.Decrypt(am); err != nil || string(pt) != "from alice" {
			t.Fatalf("bob reading alice's first message: %v", err)
		}
		bob.store.Consume(used)

		aKeep, bKeep := Resolve(aInit, aResp), Resolve(bResp, bInit)
		if aKeep.Params() != bKeep.Params() {
			t.Fatal("the two sides kept different sessions")
		}
		wantAliceInitiated := alice.id.Public().Compare(bob.id.Public()) < 0
		if (aKeep == aInit) != wantAliceInitiated {
			t.Fatal("Resolve did not keep the lower identity's session")
		}
		// The kept session works both ways, starting with whoever can send.
		first, second := aKeep, bKeep
		if !first.IsInitiator() {
			first, second = bKeep, aKeep
		}
		for i := range 3 {
			m, err := first.Encrypt([]byte{byte(i)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := second.Decrypt(m); err != nil {
				t.Fatalf("kept session, message %d: %v", i, err)
			}
			m, _ = second.Encrypt([]byte{byte(i)})
			if _, err := first.Decrypt(m); err != nil {
				t.Fatalf("kept session, reply %d: %v", i, err)
			}
		}
	}
}

func TestInitiatorIdentity(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	_, initial, _ := Initiate(alice.id, bob.bundle(t, false, true))
	p, err := InitiatorIdentity(initial)
	if err != nil || !p.Equal(alice.id.Public()) {
		t.Fatalf("InitiatorIdentity: %v", err)
	}
}

// TestInitialMessageTamperingRefused: flipping a bit in any byte of the
// initial message makes the handshake fail, either in Respond (version,
// suite, initiator identity, ephemeral key checks, unknown prekey ids) or
// at the first message (a different SK: another ephemeral key or prekey id,
// or an ML-KEM ciphertext that decapsulates to a pseudorandom secret), and
// never changes the responder's store.
func TestInitialMessageTamperingRefused(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	a, initial, err := Initiate(alice.id, bob.bundle(t, true, true))
	if err != nil {
		t.Fatal(err)
	}
	m0, err := a.Encrypt([]byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	storeBefore := bob.store.Marshal()
	inRespond, atFirstMessage := 0, 0
	for i := range initial {
		f := bytes.Clone(initial)
		f[i] ^= 1 << (i % 8)
		r, _, err := Respond(bob.id, bob.store, f, now)
		if err == nil {
			if pt, err := r.Decrypt(m0); !errors.Is(err, ratchet.ErrDecrypt) {
				t.Fatalf("byte %d flipped: first message decrypted (%q, %v)", i, pt, err)
			}
			atFirstMessage++
		} else {
			inRespond++
		}
		if !bytes.Equal(bob.store.Marshal(), storeBefore) {
			t.Fatalf("byte %d flipped: Respond changed the store", i)
		}
	}
	t.Logf("%d flips refused by Respond, %d at the first message", inRespond, atFirstMessage)
	r, _, err := Respond(bob.id, bob.store, initial, now)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := r.Decrypt(m0); err != nil || string(pt) != "first" {
		t.Fatalf("untouched initial message: %q, %v", pt, err)
	}
}

// TestTamperedOneTimePrekeyFailsHandshake: the X25519 one-time prekey is the
// one unsigned part of a bundle (as in X3DH and PQXDH). Replacing it in
// transit cannot make a session: either the bundle no longer parses, or
// Respond names an unknown key, or the first message fails to decrypt.
func TestTamperedOneTimePrekeyFailsHandshake(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	wire := bob.bundle(t, true, true).Marshal()
	opkAt := len(wire) - prekey.OneTimePrekeySize
	other := bob.store.OneTimePrekeys()[1] // a real key of Bob's under another id
	forged := map[string][]byte{}
	for i := opkAt; i < len(wire); i++ {
		f := bytes.Clone(wire)
		f[i] ^= 1 << (i % 8)
		forged[fmt.Sprintf("flip byte %d", i)] = f
	}
	swapKey := bytes.Clone(wire)
	copy(swapKey[opkAt+4:], other.Bytes()[4:]) // id kept, key of another id
	forged["key of another id"] = swapKey
	mallory, _ := ecdh.X25519().GenerateKey(rand.Reader)
	ownKey := bytes.Clone(wire)
	copy(ownKey[opkAt+4:], mallory.PublicKey().Bytes())
	forged["attacker's key"] = ownKey
	reached := 0
	for name, f := range forged {
		b, err := prekey.ParseBundle(f)
		if err != nil {
			continue
		}
		a, initial, err := Initiate(alice.id, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m0, _ := a.Encrypt([]byte("first"))
		r, _, err := Respond(bob.id, bob.store, initial, now)
		if err != nil {
			continue
		}
		if _, err := r.Decrypt(m0); !errors.Is(err, ratchet.ErrDecrypt) {
			t.Errorf("%s: first message: err = %v, want ErrDecrypt", name, err)
		}
		reached++
	}
	if reached < 2 { // at least the two substituted keys
		t.Fatalf("only %d forged bundles reached the first message", reached)
	}
}

// TestOneTimePrekeyForwardSecrecy: once the responder has consumed the
// one-time keys of a handshake, its whole prekey store (as stolen from disk
// later) together with its identity cannot re-derive the session from the
// recorded initial message.
func TestOneTimePrekeyForwardSecrecy(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	for _, c := range []struct {
		name           string
		opk, oneTimePQ bool
	}{{"x25519 and ml-kem one-time", true, true}, {"x25519 one-time", true, false}, {"ml-kem one-time", false, true}} {
		a, initial, err := Initiate(alice.id, bob.bundle(t, c.opk, c.oneTimePQ))
		if err != nil {
			t.Fatal(err)
		}
		m0, _ := a.Encrypt([]byte("recorded"))
		r, used, err := Respond(bob.id, bob.store, initial, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Decrypt(m0); err != nil {
			t.Fatal(err)
		}
		if err := bob.store.Consume(used); err != nil {
			t.Fatal(err)
		}
		stolen, err := prekey.UnmarshalStore(bob.store.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Respond(bob.id, stolen, initial, now); !errors.Is(err, prekey.ErrUnknownPrekey) {
			t.Errorf("%s: stolen store re-derived the session: err = %v", c.name, err)
		}
	}
}
