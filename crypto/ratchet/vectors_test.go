package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vector is one known-answer conversation: the inputs (shared secret,
// responder's signed prekey, every ratchet key each side generates, in order)
// and the expected outputs (every message's bytes, final serialized states).
type vector struct {
	Name         string   `json:"name"`
	SK           string   `json:"sk"`
	SPKPrivate   string   `json:"spk_private"`
	Suite        byte     `json:"suite"`
	InitiatorKey string   `json:"initiator_key"`
	ResponderKey string   `json:"responder_key"`
	AliceKeys    []string `json:"alice_ratchet_keys"`
	BobKeys      []string `json:"bob_ratchet_keys"`
	Events       []event  `json:"events"`
	AliceState   string   `json:"alice_final_state"`
	BobState     string   `json:"bob_final_state"`
}

// event: "send" encrypts Plaintext as message Index from Party; "recv"
// delivers message Index to Party.
type event struct {
	Op        string `json:"op"`
	Party     string `json:"party"`
	Index     int    `json:"index"`
	Plaintext string `json:"plaintext,omitempty"`
	Message   string `json:"message,omitempty"`
}

// scripts are the conversations recorded in the vectors: in order, out of
// order within a chain, across DH steps, and a large message.
var scripts = map[string][]event{
	"in-order-and-out-of-order": {
		{Op: "send", Party: "alice", Index: 0, Plaintext: hex.EncodeToString([]byte("hello bob"))},
		{Op: "send", Party: "alice", Index: 1, Plaintext: ""},
		{Op: "send", Party: "alice", Index: 2, Plaintext: hex.EncodeToString([]byte("third"))},
		{Op: "recv", Party: "bob", Index: 2},
		{Op: "recv", Party: "bob", Index: 0},
		{Op: "send", Party: "bob", Index: 3, Plaintext: hex.EncodeToString([]byte("hi alice"))},
		{Op: "recv", Party: "alice", Index: 3},
		{Op: "send", Party: "alice", Index: 4, Plaintext: hex.EncodeToString(bytes.Repeat([]byte("x"), 300))},
		{Op: "send", Party: "bob", Index: 5, Plaintext: hex.EncodeToString([]byte("crossing"))},
		{Op: "recv", Party: "bob", Index: 4},
		{Op: "recv", Party: "alice", Index: 5},
		{Op: "recv", Party: "bob", Index: 1},
		{Op: "send", Party: "bob", Index: 6, Plaintext: hex.EncodeToString([]byte("after the step"))},
		{Op: "recv", Party: "alice", Index: 6},
	},
	"large": {
		{Op: "send", Party: "alice", Index: 0, Plaintext: hex.EncodeToString(bytes.Repeat([]byte{0xa5}, 1500))},
		{Op: "recv", Party: "bob", Index: 0},
		{Op: "send", Party: "bob", Index: 1, Plaintext: hex.EncodeToString(bytes.Repeat([]byte{0x5a}, 2100))},
		{Op: "recv", Party: "alice", Index: 1},
	},
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex in vector: %v", err)
	}
	return b
}

// replay returns a GENERATE_DH that hands out the recorded keys in order.
func replay(tb testing.TB, keys []string) func() (*ecdh.PrivateKey, error) {
	return func() (*ecdh.PrivateKey, error) {
		if len(keys) == 0 {
			return nil, fmt.Errorf("vector has no more ratchet keys")
		}
		k, err := ecdh.X25519().NewPrivateKey(unhex(tb, keys[0]))
		keys = keys[1:]
		return k, err
	}
}

// run plays v's script. With gen set, it records generated keys and fills in
// the expected outputs; otherwise it checks them.
func run(tb testing.TB, v *vector, record bool) {
	tb.Helper()
	var sk [32]byte
	copy(sk[:], unhex(tb, v.SK))
	spk, err := ecdh.X25519().NewPrivateKey(unhex(tb, v.SPKPrivate))
	if err != nil {
		tb.Fatal(err)
	}
	p := Params{Suite: v.Suite}
	copy(p.InitiatorKey[:], unhex(tb, v.InitiatorKey))
	copy(p.ResponderKey[:], unhex(tb, v.ResponderKey))
	genA, genB := replay(tb, v.AliceKeys), replay(tb, v.BobKeys)
	if record {
		genA = recorder(&v.AliceKeys)
		genB = recorder(&v.BobKeys)
	}
	alice, err := newInitiator(p, &sk, spk.PublicKey().Bytes(), genA)
	if err != nil {
		tb.Fatal(err)
	}
	bob, err := NewResponder(p, &sk, spk)
	if err != nil {
		tb.Fatal(err)
	}
	bob.genKey = genB
	states := map[string]*State{"alice": alice, "bob": bob}
	sent := map[int]*event{}
	for i := range v.Events {
		e := &v.Events[i]
		st := states[e.Party]
		switch e.Op {
		case "send":
			m, err := st.Encrypt(unhex(tb, e.Plaintext))
			if err != nil {
				tb.Fatalf("event %d: %v", i, err)
			}
			if record {
				e.Message = hex.EncodeToString(m)
			} else if got := hex.EncodeToString(m); got != e.Message {
				tb.Fatalf("event %d: message %d differs from the known answer", i, e.Index)
			}
			sent[e.Index] = e
		case "recv":
			s := sent[e.Index]
			pt, err := st.Decrypt(unhex(tb, s.Message))
			if err != nil {
				tb.Fatalf("event %d: decrypt message %d: %v", i, e.Index, err)
			}
			if hex.EncodeToString(pt) != s.Plaintext {
				tb.Fatalf("event %d: message %d decrypted to the wrong plaintext", i, e.Index)
			}
		default:
			tb.Fatalf("event %d: unknown op %q", i, e.Op)
		}
	}
	if record {
		v.AliceState, v.BobState = hex.EncodeToString(alice.Marshal()), hex.EncodeToString(bob.Marshal())
		return
	}
	if hex.EncodeToString(alice.Marshal()) != v.AliceState || hex.EncodeToString(bob.Marshal()) != v.BobState {
		tb.Fatal("final serialized state differs from the known answer")
	}
}

func recorder(keys *[]string) func() (*ecdh.PrivateKey, error) {
	return func() (*ecdh.PrivateKey, error) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err == nil {
			*keys = append(*keys, hex.EncodeToString(k.Bytes()))
		}
		return k, err
	}
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	if len(vs) == 0 {
		tb.Fatal("known-answer vectors: the set is empty")
	}
	return vs
}

// TestKnownAnswerVectors replays recorded conversations and checks every
// message byte and the final serialized states. Run with -update to
// regenerate the vectors from a fixed seed (only when the protocol changes).
func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	vs := loadVectors(t)
	for i := range vs {
		t.Run(vs[i].Name, func(t *testing.T) { run(t, &vs[i], false) })
	}
}

func generateVectors(t *testing.T) {
	var vs []vector
	for i, name := range []string{"in-order-and-out-of-order", "large"} {
		cryptotest.SetGlobalRandom(t, uint64(1000+i))
		r := func(n int) string { b := make([]byte, n); rand.Read(b); return hex.EncodeToString(b) }
		spk, _ := ecdh.X25519().GenerateKey(rand.Reader)
		v := vector{Name: name, SK: r(32), SPKPrivate: hex.EncodeToString(spk.Bytes()), Suite: 0x01,
			InitiatorKey: r(64), ResponderKey: r(64), Events: append([]event(nil), scripts[name]...)}
		run(t, &v, true)
		vs = append(vs, v)
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
