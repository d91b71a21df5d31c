package ratchet

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	alice, bob := newPair(t)
	for _, n := range []int{0, 1, 100, 255, 256, 1000, 64 << 10, MaxPlaintextSize} {
		pt := make([]byte, n)
		rand.Read(pt)
		mustDecrypt(t, bob, mustEncrypt(t, alice, pt), pt)
		mustDecrypt(t, alice, mustEncrypt(t, bob, pt), pt)
	}
	if _, err := alice.Encrypt(make([]byte, MaxPlaintextSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized plaintext: err = %v, want ErrTooLarge", err)
	}
}

func TestResponderCannotSendFirst(t *testing.T) {
	_, bob := newPair(t)
	if _, err := bob.Encrypt([]byte("hi")); !errors.Is(err, ErrNoSendingChain) {
		t.Fatalf("err = %v, want ErrNoSendingChain", err)
	}
}

// TestPaddingHidesLength: every plaintext up to 255 bytes has the same
// ciphertext length; larger ones land in few buckets with ≤ 12.5% overhead.
func TestPaddingHidesLength(t *testing.T) {
	alice, _ := newPair(t)
	want := len(mustEncrypt(t, alice, nil))
	for n := range 256 {
		if got := len(mustEncrypt(t, alice, make([]byte, n))); got != want {
			t.Fatalf("len(ct) for %d-byte plaintext = %d, want %d", n, got, want)
		}
	}
	buckets := map[int]bool{}
	for n := 256; n < 1<<20; n += 997 {
		p := paddedSize(n)
		if p <= n || float64(p-n-1) > 0.125*float64(n) {
			t.Fatalf("paddedSize(%d) = %d", n, p)
		}
		buckets[p] = true
	}
	if len(buckets) > 200 {
		t.Fatalf("%d distinct padded sizes for 1,050 lengths: padding leaks too much", len(buckets))
	}
}

// TestForwardSecrecy: a state exported after decrypting cannot decrypt the
// recorded ciphertexts, and holds none of their keys.
func TestForwardSecrecy(t *testing.T) {
	alice, bob := newPair(t)
	var recorded [][]byte
	for round := range 3 {
		for i := range 5 {
			m := mustEncrypt(t, alice, msg(round*10+i))
			recorded = append(recorded, m)
			mustDecrypt(t, bob, m, msg(round*10+i))
		}
		exchange(t, bob, alice)
	}
	snapshot := bob.Marshal()
	stolen, err := Unmarshal(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(stolen.skipped) != 0 {
		t.Fatalf("stolen state holds %d message keys", len(stolen.skipped))
	}
	for i, m := range recorded {
		st, _ := Unmarshal(snapshot)
		if pt, err := st.Decrypt(m); err == nil {
			t.Fatalf("recorded message %d decrypted from a later state: %q", i, pt)
		}
	}
}

// TestPostCompromiseRecovery: a stolen full state decrypts the next messages
// (the theft is real) but stops working after one DH round trip.
func TestPostCompromiseRecovery(t *testing.T) {
	alice, bob := newPair(t)
	exchange(t, alice, bob)
	exchange(t, alice, bob)
	eve, err := Unmarshal(bob.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	// Before recovery Eve reads what Alice sends.
	m1 := mustEncrypt(t, alice, []byte("before"))
	mustDecrypt(t, eve, m1, []byte("before"))
	mustDecrypt(t, bob, m1, []byte("before"))
	// One DH round trip: Bob answers with a fresh key Eve does not know,
	// Alice ratchets onto it.
	mustDecrypt(t, alice, mustEncrypt(t, bob, []byte("heal")), []byte("heal"))
	m2 := mustEncrypt(t, alice, []byte("after"))
	mustDecrypt(t, bob, m2, []byte("after"))
	if pt, err := eve.Decrypt(m2); err == nil {
		t.Fatalf("stolen state decrypted a message after recovery: %q", pt)
	}
	fresh, err := Unmarshal(eve.Marshal())
	if err != nil {
		t.Fatalf("the stolen state does not unmarshal: %v", err)
	}
	if _, err := fresh.Decrypt(mustEncrypt(t, alice, []byte("later"))); err == nil {
		t.Fatal("stolen state decrypted a later message")
	}
}

// TestOutOfOrderWithinChain: any permutation of one chain decrypts, each
// message exactly once.
func TestOutOfOrderWithinChain(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for trial := range 20 {
		alice, bob := newPair(t)
		if trial%2 == 1 {
			exchange(t, alice, bob)
		}
		n := 1 + rng.IntN(40)
		ms := make([][]byte, n)
		for i := range ms {
			ms[i] = mustEncrypt(t, alice, msg(i))
		}
		for _, i := range rng.Perm(n) {
			mustDecrypt(t, bob, ms[i], msg(i))
		}
		for i := range ms {
			mustFailUnchanged(t, bob, ms[i], ErrReplay)
		}
		if len(bob.skipped) != 0 {
			t.Fatalf("%d skipped keys left after every message decrypted", len(bob.skipped))
		}
	}
}

// TestOutOfOrderAcrossDHSteps: messages of ≥ 3 DH steps in both directions,
// delivered in a random order (each receiver sees at least one message per
// round so the conversation ratchets), decrypt exactly once.
func TestOutOfOrderAcrossDHSteps(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for range 5 {
		alice, bob := newPair(t)
		type sent struct {
			m  []byte
			pt []byte
		}
		var toBob, toAlice []sent
		send := func(from *State, pool *[]sent, k int) {
			for range k {
				pt := make([]byte, 8)
				rand.Read(pt)
				*pool = append(*pool, sent{mustEncrypt(t, from, pt), pt})
			}
		}
		deliverOne := func(to *State, pool *[]sent) {
			i := rng.IntN(len(*pool))
			mustDecrypt(t, to, (*pool)[i].m, (*pool)[i].pt)
			*pool = append((*pool)[:i], (*pool)[i+1:]...)
		}
		steps := 0
		for range 4 {
			send(alice, &toBob, 1+rng.IntN(8))
			deliverOne(bob, &toBob)
			send(bob, &toAlice, 1+rng.IntN(8))
			deliverOne(alice, &toAlice)
			steps += 2
		}
		if steps < 3 {
			t.Fatal("not enough DH steps")
		}
		for _, p := range []struct {
			to   *State
			pool []sent
		}{{bob, toBob}, {alice, toAlice}} {
			rng.Shuffle(len(p.pool), func(i, j int) { p.pool[i], p.pool[j] = p.pool[j], p.pool[i] })
			for _, s := range p.pool {
				mustDecrypt(t, p.to, s.m, s.pt)
			}
			for _, s := range p.pool {
				mustFailUnchanged(t, p.to, s.m, ErrReplay)
			}
		}
		if len(alice.skipped)+len(bob.skipped) != 0 {
			t.Fatal("skipped keys left after every message decrypted")
		}
	}
}

// TestLongGap: a gap of exactly MaxSkip in the current chain, and one of
// MaxSkip in the previous chain plus MaxSkip in a new one, still decrypt.
func TestLongGap(t *testing.T) {
	alice, bob := newPair(t)
	exchange(t, alice, bob)
	var first []byte
	for i := range MaxSkip + 1 {
		m := mustEncrypt(t, alice, msg(i))
		if i == 0 {
			first = m
		}
		if i == MaxSkip {
			mustDecrypt(t, bob, m, msg(i)) // skips MaxSkip keys
		}
	}
	mustDecrypt(t, bob, first, msg(0))

	// Previous chain gap (PN) plus new chain gap (N) in one message.
	alice, bob = newPair(t)
	exchange(t, alice, bob)
	for range MaxSkip {
		mustEncrypt(t, bob, nil)
	}
	// Alice ratchets only when she receives; send from Alice so Bob's next
	// chain starts, then Bob's MaxSkip lost messages are PN on his next key.
	m := mustEncrypt(t, alice, []byte("x"))
	mustDecrypt(t, bob, m, []byte("x"))
	var last []byte
	for i := range MaxSkip + 1 {
		last = mustEncrypt(t, bob, msg(i))
	}
	mustDecrypt(t, alice, last, msg(MaxSkip))
	if got := len(alice.skipped); got != 2*MaxSkip {
		t.Fatalf("stored %d skipped keys, want %d", got, 2*MaxSkip)
	}
}

// TestReplayRefused: a replayed message fails with ErrReplay and leaves the
// state unchanged, whether its key was in the current chain, a stored
// skipped key, or a previous chain.
func TestReplayRefused(t *testing.T) {
	alice, bob := newPair(t)
	m0 := mustEncrypt(t, alice, msg(0))
	m1 := mustEncrypt(t, alice, msg(1))
	m2 := mustEncrypt(t, alice, msg(2))
	mustDecrypt(t, bob, m0, msg(0))
	mustDecrypt(t, bob, m2, msg(2)) // m1's key is stored
	mustFailUnchanged(t, bob, m0, ErrReplay)
	mustFailUnchanged(t, bob, m2, ErrReplay)
	mustDecrypt(t, bob, m1, msg(1))
	mustFailUnchanged(t, bob, m1, ErrReplay)
	exchange(t, bob, alice)
	exchange(t, bob, alice)
	for _, m := range [][]byte{m0, m1, m2} {
		mustFailUnchanged(t, bob, m, ErrReplay) // previous chain
	}
}

// forge returns a copy of m with its header's PN and N replaced.
func forge(m []byte, pn, n uint32) []byte {
	f := bytes.Clone(m)
	binary.BigEndian.PutUint32(f[34:], pn)
	binary.BigEndian.PutUint32(f[38:], n)
	return f
}

// TestMaxSkipEnforcedBeforeWork: a hostile N or PN is refused before any KDF
// work (a loop to 2^32 would hang the test), with the state unchanged.
func TestMaxSkipEnforcedBeforeWork(t *testing.T) {
	alice, bob := newPair(t)
	exchange(t, alice, bob)
	m := mustEncrypt(t, alice, msg(0))
	start := time.Now()
	for _, n := range []uint32{MaxSkip + 1, 1 << 20, 1<<32 - 1} {
		mustFailUnchanged(t, bob, forge(m, 0, n), ErrTooManySkipped) // current chain
	}
	// New chain: once Alice has heard from Bob she sends from a fresh
	// ratchet key; forge a hostile PN or N on that.
	mustDecrypt(t, alice, mustEncrypt(t, bob, []byte("r")), []byte("r"))
	m2 := mustEncrypt(t, alice, msg(1))
	mustFailUnchanged(t, bob, forge(m2, 1<<32-1, 0), ErrTooManySkipped)
	mustFailUnchanged(t, bob, forge(m2, 0, 1<<32-1), ErrTooManySkipped)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusing hostile headers took %v", d)
	}
	mustDecrypt(t, bob, m2, msg(1))
}

// TestSkippedKeyCapsEnforced: stored skipped keys never exceed
// MaxSkippedKeys (oldest evicted first) and at most MaxReceiverChains
// chains are remembered.
func TestSkippedKeyCapsEnforced(t *testing.T) {
	alice, bob := newPair(t)
	var oldest []byte
	for round := range 8 {
		if round == 5 {
			// Four rounds of 599 keys overflowed the cap while the first
			// chain is still remembered: its oldest key was evicted.
			if len(bob.skipped) != MaxSkippedKeys {
				t.Fatalf("stored %d keys, want %d", len(bob.skipped), MaxSkippedKeys)
			}
			mustFailUnchanged(t, bob, oldest, ErrReplay)
		}
		var ms [][]byte
		for i := range 600 {
			ms = append(ms, mustEncrypt(t, alice, msg(i)))
		}
		if round == 0 {
			oldest = ms[0]
		}
		mustDecrypt(t, bob, ms[len(ms)-1], msg(599)) // stores 599 keys
		if len(bob.skipped) > MaxSkippedKeys {
			t.Fatalf("round %d: %d stored keys > %d", round, len(bob.skipped), MaxSkippedKeys)
		}
		if len(bob.prev)+1 > MaxReceiverChains {
			t.Fatalf("round %d: %d receiver chains", round, len(bob.prev)+1)
		}
		mustDecrypt(t, alice, mustEncrypt(t, bob, []byte("ack")), []byte("ack"))
	}
	// The first chain itself is now forgotten: its messages fail too.
	mustFailUnchanged(t, bob, oldest, nil)
	if n := len(bob.order); n > 2*MaxSkippedKeys+64 {
		t.Fatalf("eviction order list grew to %d", n)
	}
}

// TestFailureAtomicity: flipping any bit of a message makes Decrypt fail and
// leaves the serialized state byte-identical — for a message in the current
// chain, one that takes a DH step, and one decrypted with a stored key.
func TestFailureAtomicity(t *testing.T) {
	alice, bob := newPair(t)
	exchange(t, alice, bob)
	skippedMsg := mustEncrypt(t, alice, msg(0))
	sameChain := mustEncrypt(t, alice, msg(1))
	mustDecrypt(t, bob, mustEncrypt(t, alice, msg(2)), msg(2))
	bobReply := mustEncrypt(t, bob, msg(3)) // Alice will take a DH step
	s2 := mustEncrypt(t, alice, msg(4))
	cases := []struct {
		name string
		to   *State
		m    []byte
	}{
		{"stored skipped key", bob, skippedMsg},
		{"DH step", alice, bobReply},
		{"current chain", bob, s2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range c.m {
				for bit := range 8 {
					f := bytes.Clone(c.m)
					f[i] ^= 1 << bit
					mustFailUnchanged(t, c.to, f, nil)
				}
			}
			for _, cut := range []int{0, 1, HeaderSize - 1, HeaderSize, len(c.m) - 1} {
				mustFailUnchanged(t, c.to, c.m[:cut], nil)
			}
			mustFailUnchanged(t, c.to, append(bytes.Clone(c.m), 0), nil)
		})
	}
	// The untouched messages still decrypt afterwards.
	mustDecrypt(t, bob, skippedMsg, msg(0))
	mustDecrypt(t, alice, bobReply, msg(3))
	mustDecrypt(t, bob, s2, msg(4))
	mustDecrypt(t, bob, sameChain, msg(1))
}

// TestIdentityBinding: a state whose identity keys or suite differ from the
// sender's (a swapped or substituted identity, altered AD) cannot decrypt.
func TestIdentityBinding(t *testing.T) {
	alice, bob := newPair(t)
	m := mustEncrypt(t, alice, []byte("bound"))
	snap := bob.Marshal()
	alter := func(f func(p *Params)) *State {
		st, err := Unmarshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		p := st.params
		f(&p)
		st.params = p
		st.adPrefix = newState(p, st.initiator).adPrefix
		return st
	}
	for name, f := range map[string]func(p *Params){
		"swapped":         func(p *Params) { p.InitiatorKey, p.ResponderKey = p.ResponderKey, p.InitiatorKey },
		"other initiator": func(p *Params) { p.InitiatorKey[0] ^= 1 },
		"other responder": func(p *Params) { p.ResponderKey[63] ^= 0x80 },
		"suite":           func(p *Params) { p.Suite = 0x02 },
	} {
		st := alter(f)
		if _, err := st.Decrypt(m); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	mustDecrypt(t, bob, m, []byte("bound"))
}

// TestInvalidRatchetKeysRefused: low-order or non-canonical ratchet keys in
// a header, or given to NewInitiator, are refused without state change.
func TestInvalidRatchetKeysRefused(t *testing.T) {
	alice, bob := newPair(t)
	exchange(t, alice, bob)
	m := mustEncrypt(t, alice, []byte("x"))
	bad := [][32]byte{
		{},  // zero
		{1}, // order 1
		{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
			0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	}
	hi := [32]byte{9}
	hi[31] = 0x80 // non-canonical: high bit set
	bad = append(bad, hi)
	for _, k := range bad {
		f := bytes.Clone(m)
		copy(f[2:34], k[:])
		mustFailUnchanged(t, bob, f, ErrInvalidKey)
		var sk [32]byte
		if _, err := NewInitiator(Params{}, &sk, k[:]); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewInitiator(%x): err = %v, want ErrInvalidKey", k, err)
		}
	}
	mustDecrypt(t, bob, m, []byte("x"))
}

// TestStateMarshalRoundTrip: a state serialized mid-conversation (with
// skipped keys and previous chains) restores to an equal state that carries
// on the conversation.
func TestStateMarshalRoundTrip(t *testing.T) {
	alice, bob := newPair(t)
	var late [][]byte
	for round := range 4 {
		for i := range 3 {
			m := mustEncrypt(t, alice, msg(round*10+i))
			if i == 0 {
				late = append(late, m)
				continue
			}
			mustDecrypt(t, bob, m, msg(round*10+i))
		}
		exchange(t, bob, alice)
		for _, s := range []**State{&alice, &bob} {
			b := (*s).Marshal()
			r, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if !bytes.Equal(r.Marshal(), b) {
				t.Fatalf("round %d: Marshal(Unmarshal(b)) != b", round)
			}
			*s = r
		}
	}
	if len(bob.prev) == 0 || len(bob.skipped) == 0 {
		t.Fatal("test did not build previous chains and skipped keys")
	}
	for round, m := range late {
		mustDecrypt(t, bob, m, msg(round*10))
	}
	exchange(t, alice, bob)
}

// TestStateCommittedBeforeRelease: Encrypt advances the state before it
// returns a message, so a node that persists the state before sending and
// then crashes never reuses a message key: no two messages share (key, N).
func TestStateCommittedBeforeRelease(t *testing.T) {
	alice, bob := newPair(t)
	seen := map[string]bool{}
	var ms [][]byte
	for i := range 20 {
		m := mustEncrypt(t, alice, msg(i))
		persisted := alice.Marshal() // what the node writes before sending
		if i%3 == 0 {                // crash and restart
			var err error
			if alice, err = Unmarshal(persisted); err != nil {
				t.Fatal(err)
			}
		}
		key := string(m[2:42]) // ratchet key ‖ PN ‖ N
		if seen[key] {
			t.Fatalf("message %d reuses header %x", i, m[2:42])
		}
		seen[key] = true
		ms = append(ms, m)
		if i%7 == 6 {
			exchange(t, alice, bob)
		}
	}
	for i, m := range ms {
		if _, err := bob.Decrypt(m); err != nil && !errors.Is(err, ErrReplay) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

// TestReplayRefusedAfterRestart: a state persisted and restored (as a node
// does across restarts) still refuses every message it already decrypted,
// whether its key was in the current chain, a stored skipped key since used,
// or a previous chain; the still-unread message decrypts once.
func TestReplayRefusedAfterRestart(t *testing.T) {
	alice, bob := newPair(t)
	var seen [][]byte
	var unread []byte
	for round := range 3 {
		ms := make([][]byte, 4)
		for i := range ms {
			ms[i] = mustEncrypt(t, alice, msg(round*10+i))
		}
		for _, i := range []int{3, 0, 2} { // 1 stays unread in round 0; later rounds use skipped keys
			mustDecrypt(t, bob, ms[i], msg(round*10+i))
			seen = append(seen, ms[i])
		}
		if round == 0 {
			unread = ms[1]
		} else {
			mustDecrypt(t, bob, ms[1], msg(round*10+1))
			seen = append(seen, ms[1])
		}
		restored, err := Unmarshal(bob.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		bob = restored
		for _, m := range seen {
			mustFailUnchanged(t, bob, m, ErrReplay)
		}
		exchange(t, bob, alice)
	}
	mustDecrypt(t, bob, unread, msg(1))
	mustFailUnchanged(t, bob, unread, ErrReplay)
}

// A clone is independent: advancing the clone (encrypting, decrypting out of order so that
// skipped keys are stored and used) leaves the original exactly as it was, byte for byte,
// and the original then goes on as if the clone never existed.
func TestCloneIsIndependent(t *testing.T) {
	alice, bob := newPair(t)
	var msgs [][]byte
	for i := range 4 {
		msgs = append(msgs, mustEncrypt(t, alice, fmt.Appendf(nil, "m%d", i)))
	}
	if _, err := bob.Decrypt(msgs[2]); err != nil { // skips m0 and m1
		t.Fatal(err)
	}
	before := bob.Marshal()
	c := bob.Clone()
	if !bytes.Equal(c.Marshal(), before) {
		t.Fatal("clone marshals differently")
	}
	for _, i := range []int{0, 3} {
		if pt, err := c.Decrypt(msgs[i]); err != nil || string(pt) != fmt.Sprintf("m%d", i) {
			t.Fatalf("clone decrypting m%d: %q %v", i, pt, err)
		}
	}
	mustEncrypt(t, c, []byte("reply from the clone"))
	if !bytes.Equal(bob.Marshal(), before) {
		t.Fatal("advancing the clone changed the original")
	}
	for _, i := range []int{0, 1, 3} {
		if pt, err := bob.Decrypt(msgs[i]); err != nil || string(pt) != fmt.Sprintf("m%d", i) {
			t.Fatalf("original decrypting m%d after the clone did: %q %v", i, pt, err)
		}
	}
}
