package senderkey

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// newPair returns a fresh sender and a receiver holding its distribution.
func newPair(tb testing.TB) (*SenderState, *ReceiverState) {
	tb.Helper()
	s, err := NewSender()
	if err != nil {
		tb.Fatal(err)
	}
	return s, NewReceiver(mustParseDistribution(tb, s.Distribution()))
}

func mustParseDistribution(tb testing.TB, b []byte) *Distribution {
	tb.Helper()
	d, err := ParseDistribution(b)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func mustEncrypt(tb testing.TB, s *SenderState, pt []byte) []byte {
	tb.Helper()
	m, err := s.Encrypt(pt)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func marshalReceiver(tb testing.TB, r *ReceiverState) []byte {
	tb.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// refuseUnchanged asserts that Decrypt fails with want and leaves r byte-identical.
func refuseUnchanged(tb testing.TB, r *ReceiverState, msg []byte, want error) {
	tb.Helper()
	before := marshalReceiver(tb, r)
	pt, err := r.Decrypt(msg)
	if err == nil {
		tb.Fatalf("Decrypt accepted a message that must be refused (%d bytes of plaintext)", len(pt))
	}
	if want != nil && !errors.Is(err, want) {
		tb.Fatalf("Decrypt error = %v, want %v", err, want)
	}
	if after := marshalReceiver(tb, r); !bytes.Equal(before, after) {
		tb.Fatalf("state changed on a refused message (%v)", err)
	}
}

func TestRoundTrip(t *testing.T) {
	s, r := newPair(t)
	for _, n := range []int{0, 1, 100, 1000, 64 << 10} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		msg := mustEncrypt(t, s, pt)
		if len(msg) != headerSize+n+tagSize+sigSize {
			t.Fatalf("message of %d bytes for %d of plaintext", len(msg), n)
		}
		got, err := r.Decrypt(msg)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: plaintext differs", n)
		}
	}
}

func TestStateRoundTripContinues(t *testing.T) {
	s, r := newPair(t)
	m0 := mustEncrypt(t, s, []byte("zero"))
	m1 := mustEncrypt(t, s, []byte("one"))
	m2 := mustEncrypt(t, s, []byte("two"))
	if _, err := r.Decrypt(m2); err != nil { // leaves 0 and 1 skipped
		t.Fatal(err)
	}

	sb, _ := s.MarshalBinary()
	s2, err := UnmarshalSender(sb)
	if err != nil {
		t.Fatal(err)
	}
	if sb2, _ := s2.MarshalBinary(); !bytes.Equal(sb, sb2) {
		t.Fatal("sender state does not round-trip")
	}
	rb := marshalReceiver(t, r)
	r2, err := UnmarshalReceiver(rb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rb, marshalReceiver(t, r2)) {
		t.Fatal("receiver state does not round-trip")
	}
	for _, m := range [][]byte{m0, m1, mustEncrypt(t, s2, []byte("three"))} {
		if _, err := r2.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
	if s2.Iteration() != 4 || s2.ID() != s.ID() {
		t.Fatalf("restored sender at iteration %d", s2.Iteration())
	}
}

func TestRemovedMemberCannotDecryptAfterRekey(t *testing.T) {
	alice, err := NewSender()
	if err != nil {
		t.Fatal(err)
	}
	bob := NewReceiver(mustParseDistribution(t, alice.Distribution()))
	carol := NewReceiver(mustParseDistribution(t, alice.Distribution()))
	before := mustEncrypt(t, alice, []byte("before removal"))
	for _, r := range []*ReceiverState{bob, carol} {
		if _, err := r.Decrypt(before); err != nil {
			t.Fatal(err)
		}
	}

	// Carol is removed: Alice rotates and distributes to Bob only.
	alice, err = NewSender()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Add(mustParseDistribution(t, alice.Distribution())); err != nil {
		t.Fatal(err)
	}
	after := mustEncrypt(t, alice, []byte("after removal"))
	if got, err := bob.Decrypt(after); err != nil || string(got) != "after removal" {
		t.Fatalf("remaining member: %q, %v", got, err)
	}
	refuseUnchanged(t, carol, after, ErrUnknownChain)

	// Even relabelled with the old chain's id, the new message does not open under the
	// chain Carol holds: it is neither signed by that key nor encrypted under that chain.
	relabelled := bytes.Clone(after)
	oldID := carol.IDs()[0]
	copy(relabelled[2:], oldID[:])
	refuseUnchanged(t, carol, relabelled, ErrBadSignature)
}

func TestForgedOrUnsignedMessageRefused(t *testing.T) {
	s, r := newPair(t)
	msg := mustEncrypt(t, s, []byte("hello group"))

	zeroSig := bytes.Clone(msg)
	clear(zeroSig[len(zeroSig)-sigSize:])
	refuseUnchanged(t, r, zeroSig, ErrBadSignature)

	unsigned := msg[:len(msg)-sigSize] // header ‖ ciphertext, no signature
	refuseUnchanged(t, r, unsigned, nil)

	// An outsider with its own key signs a message claiming the chain's id.
	_, outsider, _ := ed25519.GenerateKey(nil)
	forged := append([]byte(nil), msg[:len(msg)-sigSize]...)
	forged = append(forged, ed25519.Sign(outsider, append([]byte(sigPrefix), forged...))...)
	refuseUnchanged(t, r, forged, ErrBadSignature)

	if _, err := r.Decrypt(msg); err != nil {
		t.Fatalf("genuine message after forgeries: %v", err)
	}
}

func TestMessageSignedByAnotherMembersKeyRefused(t *testing.T) {
	alice, bob := newPair(t)
	carolSender, err := NewSender()
	if err != nil {
		t.Fatal(err)
	}
	// Carol is a member, so she holds Alice's chain key and can encrypt validly under it;
	// she signs with her own signing key.
	d := mustParseDistribution(t, alice.Distribution())
	impostor := newSenderFrom(d.id, d.iteration, d.chainKey, carolSender.sigPriv.Seed())
	forged := mustEncrypt(t, impostor, []byte("I am alice"))
	refuseUnchanged(t, bob, forged, ErrBadSignature)

	if _, err := bob.Decrypt(mustEncrypt(t, alice, []byte("I am alice"))); err != nil {
		t.Fatalf("genuine message at the same iteration: %v", err)
	}
}

func TestDuplicateIterationRefusedStateUnchanged(t *testing.T) {
	s, r := newPair(t)
	m0 := mustEncrypt(t, s, []byte("0"))
	m1 := mustEncrypt(t, s, []byte("1"))
	m2 := mustEncrypt(t, s, []byte("2"))
	for _, m := range [][]byte{m1, m0, m2} {
		if _, err := r.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][]byte{m0, m1, m2} {
		refuseUnchanged(t, r, m, ErrDuplicate)
	}
}

func TestOutOfOrderWithinWindowDecryptsExactlyOnce(t *testing.T) {
	s, r := newPair(t)
	const n = 200
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = mustEncrypt(t, s, fmt.Appendf(nil, "message %d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(n)
	for _, i := range order {
		got, err := r.Decrypt(msgs[i])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("message %d", i); string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	for _, i := range order[:20] {
		refuseUnchanged(t, r, msgs[i], ErrDuplicate)
	}
	if len(r.chains[0].skipped) != 0 {
		t.Fatalf("%d skipped keys left after every message arrived", len(r.chains[0].skipped))
	}
}

func TestBeyondWindowRefusedBeforeWork(t *testing.T) {
	s, r := newPair(t)
	for range MaxSkip + 1 {
		mustEncrypt(t, s, nil)
	}
	tooFar := mustEncrypt(t, s, []byte("iteration MaxSkip+1"))
	refuseUnchanged(t, r, tooFar, ErrTooFarAhead)

	// "Before work": a refusal allocates a few small buffers, never the MaxSkip skipped
	// keys (36 KB) the KDF walk would need.
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	const calls = 20
	for range calls {
		if _, err := r.Decrypt(tooFar); !errors.Is(err, ErrTooFarAhead) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms1)
	if per := (ms1.TotalAlloc - ms0.TotalAlloc) / calls; per > 8<<10 {
		t.Fatalf("a refused far-ahead message allocated %d bytes", per)
	}

	// Exactly MaxSkip ahead is accepted.
	s2, r2 := newPair(t)
	for range MaxSkip {
		mustEncrypt(t, s2, nil)
	}
	if _, err := r2.Decrypt(mustEncrypt(t, s2, []byte("iteration MaxSkip"))); err != nil {
		t.Fatalf("message exactly MaxSkip ahead: %v", err)
	}
}

func TestAnyFlippedBitRefusedStateUnchanged(t *testing.T) {
	s, r := newPair(t)
	if _, err := r.Decrypt(mustEncrypt(t, s, []byte("warm up"))); err != nil {
		t.Fatal(err)
	}
	mustEncrypt(t, s, nil) // leave one skipped key in the state
	msg := mustEncrypt(t, s, bytes.Repeat([]byte("x"), 40))
	for bit := range len(msg) * 8 {
		flipped := bytes.Clone(msg)
		flipped[bit/8] ^= 1 << (bit % 8)
		refuseUnchanged(t, r, flipped, nil)
	}
	if _, err := r.Decrypt(msg); err != nil {
		t.Fatalf("original after flips: %v", err)
	}
}

func TestForwardSecrecy(t *testing.T) {
	s, r := newPair(t)
	var sent [][]byte
	for i := range 10 {
		sent = append(sent, mustEncrypt(t, s, fmt.Appendf(nil, "%d", i)))
	}
	for _, m := range sent {
		if _, err := r.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}

	// A receiver state captured after decrypting cannot open the recorded messages.
	captured, err := UnmarshalReceiver(marshalReceiver(t, r))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		refuseUnchanged(t, captured, m, ErrDuplicate)
	}

	// Nor can anything derived from the sender's state captured later.
	later := NewReceiver(mustParseDistribution(t, s.Distribution()))
	for _, m := range sent {
		refuseUnchanged(t, later, m, ErrDuplicate)
	}
	c := later.chains[0]
	for _, m := range sent {
		pm, _ := ParseMessage(m)
		ck := c.chainKey
		for range 10 {
			next, mk := kdfCK(&ck)
			if _, err := open(&mk, pm); err == nil {
				t.Fatal("a later chain key opened an earlier message")
			}
			ck = next
		}
	}
}

func TestRotationKeepsInFlightMessagesOfPreviousChain(t *testing.T) {
	s1, r := newPair(t)
	inFlight := mustEncrypt(t, s1, []byte("sent before rotation"))
	s2, _ := NewSender()
	if err := r.Add(mustParseDistribution(t, s2.Distribution())); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decrypt(mustEncrypt(t, s2, []byte("new chain"))); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decrypt(inFlight); err != nil {
		t.Fatalf("in-flight message of the previous chain: %v", err)
	}

	// A second rotation drops the first chain.
	late := mustEncrypt(t, s1, []byte("very late"))
	s3, _ := NewSender()
	if err := r.Add(mustParseDistribution(t, s3.Distribution())); err != nil {
		t.Fatal(err)
	}
	if ids := r.IDs(); len(ids) != MaxChains || ids[0] != s3.ID() || ids[1] != s2.ID() {
		t.Fatalf("chains held: %v", ids)
	}
	refuseUnchanged(t, r, late, ErrUnknownChain)
}

func TestRedeliveredDistributionDoesNotRollBack(t *testing.T) {
	s, r := newPair(t)
	dist := s.Distribution()
	m := mustEncrypt(t, s, []byte("once"))
	if _, err := r.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	before := marshalReceiver(t, r)
	if err := r.Add(mustParseDistribution(t, dist)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, marshalReceiver(t, r)) {
		t.Fatal("a re-delivered distribution changed the state")
	}
	refuseUnchanged(t, r, m, ErrDuplicate)

	// The same id with another signing key is a conflict.
	other, _ := NewSender()
	conflicting := bytes.Clone(dist)
	copy(conflicting[distributionSize-pubKeySize:], other.sigPriv.Public().(ed25519.PublicKey))
	if err := r.Add(mustParseDistribution(t, conflicting)); !errors.Is(err, ErrChainConflict) {
		t.Fatalf("conflicting distribution: %v", err)
	}
	if !bytes.Equal(before, marshalReceiver(t, r)) {
		t.Fatal("a conflicting distribution changed the state")
	}
}

func TestSkippedKeyCapEvictsOldest(t *testing.T) {
	s, r := newPair(t)
	var first []byte
	for i := range 3 * MaxSkip {
		m := mustEncrypt(t, s, nil)
		if i == 0 {
			first = m
		}
		if i%MaxSkip == MaxSkip-1 {
			if _, err := r.Decrypt(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(r.chains[0].skipped); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys stored, cap %d", n, MaxSkippedKeys)
	}
	refuseUnchanged(t, r, first, ErrDuplicate)
}

func TestChainExhausted(t *testing.T) {
	s, _ := newPair(t)
	last := newSenderFrom(s.id, maxIteration-1, s.chainKey, s.sigPriv.Seed())
	r := NewReceiver(mustParseDistribution(t, last.Distribution()))
	m := mustEncrypt(t, last, []byte("last"))
	if _, err := last.Encrypt(nil); !errors.Is(err, ErrChainExhausted) {
		t.Fatalf("encrypt past the last iteration: %v", err)
	}
	if _, err := r.Decrypt(m); err != nil {
		t.Fatal(err)
	}
}

func TestParseMessageReportsRouting(t *testing.T) {
	s, _ := newPair(t)
	mustEncrypt(t, s, nil)
	m, err := ParseMessage(mustEncrypt(t, s, []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID() != s.ID() || m.Iteration() != 1 {
		t.Fatalf("parsed id %s iteration %d", m.ID(), m.Iteration())
	}
	d := mustParseDistribution(t, s.Distribution())
	if d.ID() != s.ID() || d.Iteration() != 2 || !d.SigningKey().Equal(s.sigPriv.Public()) {
		t.Fatal("distribution accessors disagree with the sender")
	}
}

func TestMalformedInputsRefused(t *testing.T) {
	s, r := newPair(t)
	msg := mustEncrypt(t, s, []byte("x"))
	badVersion := bytes.Clone(msg)
	badVersion[0] = 2
	refuseUnchanged(t, r, badVersion, ErrUnsupported)
	refuseUnchanged(t, r, msg[:minMessageSize-1], ErrMalformed)
	maxIt := bytes.Clone(msg)
	copy(maxIt[2+IDSize:], []byte{0xff, 0xff, 0xff, 0xff})
	refuseUnchanged(t, r, maxIt, ErrMalformed)

	dist := s.Distribution()
	for _, b := range [][]byte{nil, dist[:len(dist)-1], append(bytes.Clone(dist), 0)} {
		if _, err := ParseDistribution(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("distribution of %d bytes: %v", len(b), err)
		}
	}

	good := marshalReceiver(t, r)
	cases := map[string][]byte{
		"empty":         nil,
		"kind":          append([]byte{stateVersion, stateKindSender}, good[2:]...),
		"no chains":     {stateVersion, stateKindReceiver, 0},
		"trailing":      append(bytes.Clone(good), 0),
		"truncated":     good[:len(good)-1],
		"too many":      append([]byte{stateVersion, stateKindReceiver, MaxChains + 1}, good[3:]...),
		"repeated id":   append(append([]byte{stateVersion, stateKindReceiver, 2}, good[3:]...), good[3:]...),
		"skipped order": receiverWithSkipped(t, 5, 3, 7),
	}
	for name, b := range cases {
		if _, err := UnmarshalReceiver(b); err == nil {
			t.Errorf("%s: UnmarshalReceiver accepted it", name)
		}
	}
	if _, err := UnmarshalReceiver(receiverWithSkipped(t, 5, 1, 3)); err != nil {
		t.Fatalf("well-formed skipped keys: %v", err)
	}
}

// receiverWithSkipped encodes a one-chain state at iteration it with the given skipped
// iterations.
func receiverWithSkipped(t *testing.T, it uint32, skipped ...uint32) []byte {
	t.Helper()
	c := &receiverChain{iteration: it}
	for _, s := range skipped {
		c.skipped = append(c.skipped, skippedKey{iteration: s})
	}
	return marshalReceiver(t, &ReceiverState{chains: []*receiverChain{c}})
}

func TestVerifyWithoutState(t *testing.T) {
	s, _ := newPair(t)
	d := mustParseDistribution(t, s.Distribution())
	msg := mustEncrypt(t, s, []byte("hello"))
	m, err := ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Verify(d.SigningKey()) {
		t.Fatal("genuine message does not verify")
	}
	other, _ := newPair(t)
	if m.Verify(mustParseDistribution(t, other.Distribution()).SigningKey()) || m.Verify(nil) {
		t.Fatal("verified under a foreign or empty key")
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-sigSize-1] ^= 1
	if mb, err := ParseMessage(bad); err != nil || mb.Verify(d.SigningKey()) {
		t.Fatalf("tampered message verified (%v)", err)
	}
}

func TestBoundIDNamesItsOwner(t *testing.T) {
	s, err := NewSenderBound([]byte("group a, sender x"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDistribution(s.Distribution())
	if err != nil {
		t.Fatal(err)
	}
	if !d.BoundTo([]byte("group a, sender x")) {
		t.Fatal("a bound chain is not bound to its owner")
	}
	if d.BoundTo([]byte("group a, sender y")) || d.BoundTo([]byte("group b, sender x")) {
		t.Fatal("a bound chain is bound to another owner")
	}
	// Another signing key under the same id (a forger's keys): not bound.
	f, _ := NewSender()
	fd, _ := ParseDistribution(f.Distribution())
	forged := append(append([]byte{}, s.Distribution()[:distributionSize-pubKeySize]...), fd.SigningKey()...)
	if x, _ := ParseDistribution(forged); x.BoundTo([]byte("group a, sender x")) {
		t.Fatal("an id bound with another signing key")
	}
	// It round-trips through the stored state, and a plain chain is bound to no one.
	b, _ := s.MarshalBinary()
	s2, err := UnmarshalSender(b)
	if err != nil || s2.ID() != s.ID() {
		t.Fatalf("state: %v", err)
	}
	if fd.BoundTo([]byte("group a, sender x")) {
		t.Fatal("a random id is bound")
	}
}
