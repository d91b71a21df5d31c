package sealed

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

// party is one identity: an Ed25519 signing key and an X25519 DH key.
type party struct {
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
}

func newParty(tb testing.TB) party {
	tb.Helper()
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return party{sign: sign, dh: dh}
}

func (p party) signPub() ed25519.PublicKey { return p.sign.Public().(ed25519.PublicKey) }

func mustSeal(tb testing.TB, mailbox []byte, to, from party, payload []byte) []byte {
	tb.Helper()
	env, err := Seal(mailbox, to.dh.PublicKey(), from.sign, from.dh.PublicKey(), payload)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// sealInner encrypts an arbitrary inner plaintext into a well-formed envelope, as an
// attacker who knows the recipient's public key can.
func sealInner(tb testing.TB, mailbox []byte, to *ecdh.PublicKey, inner []byte) []byte {
	tb.Helper()
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared, err := eph.ECDH(to)
	if err != nil {
		tb.Fatal(err)
	}
	aead, nonce, err := envelopeAEAD(shared, eph.PublicKey().Bytes(), to.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	env := append([]byte{Version, Suite, byte(len(mailbox))}, mailbox...)
	env = append(env, eph.PublicKey().Bytes()...)
	return aead.Seal(env, nonce, inner, bytes.Clone(env))
}

// buildInner lays out an inner plaintext with the given fields, padded canonically.
func buildInner(signPub, dhPub, sig, payload []byte) []byte {
	inner := append(append(append([]byte(nil), signPub...), dhPub...), sig...)
	inner = binary.BigEndian.AppendUint32(inner, uint32(len(payload)))
	inner = append(inner, payload...)
	return append(inner, make([]byte, paddedSize(len(inner))-len(inner))...)
}

func TestRoundTrip(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	for _, n := range []int{0, 1, 100, 124, 125, 1000, 64 << 10, 200 << 10} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		mailbox := []byte("bob's mailbox")
		env := mustSeal(t, mailbox, bob, alice, payload)
		if len(env) != Size(len(mailbox), n) {
			t.Fatalf("%d bytes: envelope of %d, Size says %d", n, len(env), Size(len(mailbox), n))
		}
		h, err := ParseHeader(env)
		if err != nil || !bytes.Equal(h.Mailbox, mailbox) || h.Version != Version || h.Suite != Suite {
			t.Fatalf("header %+v, %v", h, err)
		}
		o, err := Open(env, bob.dh)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(o.Payload, payload) || !o.SenderSigningKey.Equal(alice.signPub()) || !o.SenderDHKey.Equal(alice.dh.PublicKey()) {
			t.Fatalf("%d bytes: opened the wrong payload or sender", n)
		}
	}
}

func TestRelayVisibleBytesRevealNeitherSenderNorPlaintext(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	payload := []byte("meet at the usual place at nine; bring the documents")
	mailbox := []byte{0xb0, 0xb0}
	env := mustSeal(t, mailbox, bob, alice, payload)
	for name, secret := range map[string][]byte{
		"sender signing key": alice.signPub(),
		"sender DH key":      alice.dh.PublicKey().Bytes(),
		"plaintext":          payload,
		"plaintext prefix":   payload[:8],
		"recipient DH key":   bob.dh.PublicKey().Bytes(),
	} {
		if bytes.Contains(env, secret) {
			t.Errorf("envelope contains the %s", name)
		}
	}
	h, err := ParseHeader(env)
	if err != nil || !bytes.Equal(h.Mailbox, mailbox) {
		t.Fatalf("relay view: %+v, %v", h, err)
	}
	// Two envelopes of the same sender to the same recipient share only the header.
	env2 := mustSeal(t, mailbox, bob, alice, payload)
	if bytes.Equal(env[5:40], env2[5:40]) {
		t.Fatal("two envelopes share their ephemeral key")
	}
}

func TestWrongRecipientKeyFails(t *testing.T) {
	alice, bob, carol := newParty(t), newParty(t), newParty(t)
	env := mustSeal(t, []byte("bob"), bob, alice, []byte("for bob"))
	if _, err := Open(env, carol.dh); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened with another key: %v", err)
	}
}

func TestAnyTamperedByteFails(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	env := mustSeal(t, []byte("mbox"), bob, alice, []byte("hello"))
	for i := range env {
		for _, mask := range []byte{0x01, 0x80} {
			tampered := bytes.Clone(env)
			tampered[i] ^= mask
			if o, err := Open(tampered, bob.dh); err == nil {
				t.Fatalf("byte %d ^ %#x: opened %q", i, mask, o.Payload)
			}
		}
	}
	for _, cut := range []int{1, tagSize, len(env) - 3} {
		if _, err := Open(env[:len(env)-cut], bob.dh); err == nil {
			t.Fatalf("truncated by %d: opened", cut)
		}
	}
	if _, err := Open(append(bytes.Clone(env), 0), bob.dh); err == nil {
		t.Fatal("extended by a byte: opened")
	}
}

func TestForgedSenderCertificateRefused(t *testing.T) {
	alice, bob, carol, mallory := newParty(t), newParty(t), newParty(t), newParty(t)
	mailbox := []byte("carol")
	payload := []byte("transfer everything to mallory")
	to := carol.dh.PublicKey()
	forged := func(signPub, dhPub, sig []byte) []byte {
		return sealInner(t, mailbox, to, buildInner(signPub, dhPub, sig, payload))
	}
	// Mallory signs with her key but claims Alice's.
	eph := make([]byte, 32) // the signature is checked over the real ephemeral key, so any value is wrong
	cases := map[string][]byte{
		"signed by another key": forged(alice.signPub(), alice.dh.PublicKey().Bytes(),
			ed25519.Sign(mallory.sign, signedBytes(to.Bytes(), eph, alice.dh.PublicKey().Bytes(), payload))),
		"zero signature": forged(alice.signPub(), alice.dh.PublicKey().Bytes(), make([]byte, sigSize)),
	}

	// Bob lifts Alice's signature from an envelope she sealed to him into one for Carol.
	env := mustSeal(t, []byte("bob"), bob, alice, payload)
	o, err := Open(env, bob.dh)
	if err != nil {
		t.Fatal(err)
	}
	inner := decryptInner(t, env, bob.dh)
	lifted := inner[2*keySize : 2*keySize+sigSize]
	cases["signature lifted from another envelope"] = forged(o.SenderSigningKey, o.SenderDHKey.Bytes(), lifted)

	// Alice's genuine envelope with the sender DH key replaced by Mallory's.
	swapped := bytes.Clone(inner)
	copy(swapped[keySize:], mallory.dh.PublicKey().Bytes())
	cases["sender DH key swapped"] = sealInner(t, []byte("bob"), bob.dh.PublicKey(), swapped)

	for name, env := range cases {
		recipient := carol.dh
		if name == "sender DH key swapped" {
			recipient = bob.dh
		}
		if _, err := Open(env, recipient); !errors.Is(err, ErrBadSender) {
			t.Errorf("%s: %v, want ErrBadSender", name, err)
		}
	}
}

// decryptInner returns the padded inner plaintext of an envelope (a test's view).
func decryptInner(tb testing.TB, env []byte, recipient *ecdh.PrivateKey) []byte {
	tb.Helper()
	h, err := ParseHeader(env)
	if err != nil {
		tb.Fatal(err)
	}
	ad, eph, ct := split(env, h)
	ephKey, _ := ecdh.X25519().NewPublicKey(eph)
	shared, _ := recipient.ECDH(ephKey)
	aead, nonce, _ := envelopeAEAD(shared, eph, recipient.PublicKey().Bytes())
	inner, err := aead.Open(nil, nonce, ct, ad)
	if err != nil {
		tb.Fatal(err)
	}
	return inner
}

func TestPaddingHidesExactLengths(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	mb := []byte("m")
	for _, pair := range [][2]int{{0, 100}, {1, 124}, {200, 300}, {5000, 8000}, {70 << 10, 100 << 10}} {
		a := mustSeal(t, mb, bob, alice, make([]byte, pair[0]))
		b := mustSeal(t, mb, bob, alice, make([]byte, pair[1]))
		if len(a) != len(b) {
			t.Errorf("payloads of %d and %d bytes: envelopes of %d and %d bytes", pair[0], pair[1], len(a), len(b))
		}
	}
	for n, want := range map[int]int{0: 256, 256: 256, 257: 512, 4097: 8192, 65536: 65536, 65537: 131072, 200000: 262144} {
		if got := paddedSize(n); got != want {
			t.Errorf("paddedSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestNonCanonicalInnerRefused(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	payload := []byte("x")
	env := mustSeal(t, []byte("b"), bob, alice, payload)
	inner := decryptInner(t, env, bob.dh)

	dirty := bytes.Clone(inner)
	dirty[len(dirty)-1] = 1
	long := append(bytes.Clone(inner), make([]byte, 256)...) // wrong bucket for its length
	lying := bytes.Clone(inner)
	binary.BigEndian.PutUint32(lying[innerOverhead-4:], 1<<31)
	for name, in := range map[string][]byte{"non-zero padding": dirty, "wrong bucket": long, "length beyond inner": lying} {
		if _, err := Open(sealInner(t, []byte("b"), bob.dh.PublicKey(), in), bob.dh); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
}

func TestLowOrderAndMalformedKeysRefused(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
	}
	env := mustSeal(t, []byte("b"), bob, alice, []byte("x"))
	ephAt := prefixSize + 1 // after the 1-byte mailbox id
	for _, s := range lowOrder {
		b, _ := hex.DecodeString(s)
		pub, err := ecdh.X25519().NewPublicKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Seal([]byte("b"), pub, alice.sign, alice.dh.PublicKey(), nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Seal to low-order key %s: %v", s[:8], err)
		}
		bad := bytes.Clone(env)
		copy(bad[ephAt:], b)
		if _, err := Open(bad, bob.dh); !errors.Is(err, ErrOpen) {
			t.Errorf("Open with low-order ephemeral key %s: %v", s[:8], err)
		}
	}

	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	if _, err := Seal([]byte("b"), p256.PublicKey(), alice.sign, alice.dh.PublicKey(), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Seal to a P-256 key: %v", err)
	}
	if _, err := Seal([]byte("b"), bob.dh.PublicKey(), alice.sign, p256.PublicKey(), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Seal with a P-256 sender key: %v", err)
	}
	if _, err := Seal([]byte("b"), bob.dh.PublicKey(), alice.sign[:32], alice.dh.PublicKey(), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Seal with a truncated signing key: %v", err)
	}
	if _, err := Open(env, p256); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Open with a P-256 key: %v", err)
	}
}

func TestHeaderAndLimits(t *testing.T) {
	alice, bob := newParty(t), newParty(t)
	env := mustSeal(t, []byte("b"), bob, alice, nil)
	for name, c := range map[string]struct {
		env  []byte
		want error
	}{
		"empty":         {nil, ErrMalformed},
		"version 2":     {append([]byte{2}, env[1:]...), ErrUnsupported},
		"suite 2":       {append([]byte{Version, 2}, env[2:]...), ErrUnsupported},
		"no mailbox":    {append([]byte{Version, Suite, 0}, env[3:]...), ErrMalformed},
		"too short":     {env[:len(env)-1], ErrMalformed},
		"mailbox > len": {append([]byte{Version, Suite, 255}, env[3:]...), ErrMalformed},
	} {
		if _, err := ParseHeader(c.env); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := Seal(nil, bob.dh.PublicKey(), alice.sign, alice.dh.PublicKey(), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty mailbox: %v", err)
	}
	if _, err := Seal(make([]byte, 256), bob.dh.PublicKey(), alice.sign, alice.dh.PublicKey(), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("256-byte mailbox: %v", err)
	}
	if _, err := Seal([]byte("b"), bob.dh.PublicKey(), alice.sign, alice.dh.PublicKey(), make([]byte, MaxPayloadSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("payload over MaxPayloadSize: %v", err)
	}
	big := mustSeal(t, make([]byte, 255), bob, alice, make([]byte, MaxPayloadSize))
	if len(big) != Size(255, MaxPayloadSize) || len(decryptInner(t, big, bob.dh)) != MaxPaddedSize {
		t.Fatalf("largest envelope: %d bytes", len(big))
	}
	if _, err := Open(append(bytes.Clone(big), make([]byte, StepPaddedSize)...), bob.dh); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ciphertext over MaxPaddedSize: %v", err)
	}
}
