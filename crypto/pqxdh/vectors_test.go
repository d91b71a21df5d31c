package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
	"github.com/petrel-chat/petrel/crypto/prekey"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// hexBytes is a byte string written as hex in the vector file.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

// vector is one PQXDH handshake. Inputs: both private identities, the
// responder's serialized prekey store (package prekey's format), the bundle
// the initiator was handed, the initiator's ephemeral X25519 key and the
// ML-KEM encapsulation randomness (FIPS 203 m). Outputs: every intermediate
// (DH1..DH4, SS), SK, the associated data and the initial message.
type vector struct {
	Name              string     `json:"name"`
	Now               int64      `json:"now_unix"`
	InitiatorIdentity hexBytes   `json:"initiator_identity_private"`
	ResponderIdentity hexBytes   `json:"responder_identity_private"`
	ResponderStore    hexBytes   `json:"responder_store"`
	Bundle            hexBytes   `json:"bundle"`
	Ephemeral         hexBytes   `json:"ephemeral_private"`
	EncapsRandomness  hexBytes   `json:"mlkem_encaps_randomness"`
	DH                []hexBytes `json:"dh"`
	SS                hexBytes   `json:"ss"`
	SK                hexBytes   `json:"sk"`
	AD                hexBytes   `json:"associated_data"`
	Initial           hexBytes   `json:"initial_message"`
	Used              []uint32   `json:"one_time_ids_used"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	if len(f.Vectors) == 0 {
		tb.Fatal("known-answer vectors: the set is empty")
	}
	return f.Vectors
}

// parsed holds a vector's inputs as objects.
type parsed struct {
	alice, bob *identity.Identity
	store      *prekey.Store
	bundle     *prekey.Bundle
	ek         *ecdh.PrivateKey
	now        time.Time
}

func parseInputs(tb testing.TB, v *vector) parsed {
	tb.Helper()
	var p parsed
	var err error
	if p.alice, err = identity.Unmarshal(v.InitiatorIdentity); err != nil {
		tb.Fatal(err)
	}
	if p.bob, err = identity.Unmarshal(v.ResponderIdentity); err != nil {
		tb.Fatal(err)
	}
	if p.store, err = prekey.UnmarshalStore(v.ResponderStore); err != nil {
		tb.Fatal(err)
	}
	if p.bundle, err = prekey.ParseBundle(v.Bundle); err != nil {
		tb.Fatal(err)
	}
	if p.ek, err = ecdh.X25519().NewPrivateKey(v.Ephemeral); err != nil {
		tb.Fatal(err)
	}
	p.now = time.Unix(v.Now, 0)
	return p
}

// fixedEncaps is ML-KEM-768 encapsulation with the recorded randomness.
func fixedEncaps(m []byte) encapsulator {
	return func(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
		return mlkemtest.Encapsulate768(ek, m)
	}
}

// computeVector runs both sides of the handshake on v's inputs and fills in
// the outputs. It fails if the two sides disagree or the responder's store
// changes.
func computeVector(tb testing.TB, v *vector) {
	tb.Helper()
	p := parseInputs(tb, v)
	skA, initial, err := initiate(p.alice, p.bundle, p.ek, fixedEncaps(v.EncapsRandomness))
	if err != nil {
		tb.Fatal(err)
	}
	skB, _, m, used, err := respond(p.bob, p.store, initial, p.now)
	if err != nil {
		tb.Fatalf("respond: %v", err)
	}
	if skA != skB {
		tb.Fatal("initiator and responder derived different secrets")
	}
	if !bytes.Equal(p.store.Marshal(), v.ResponderStore) {
		tb.Fatal("respond modified the store")
	}
	if !m.initiator.Equal(p.alice.Public()) {
		tb.Fatal("initiator identity differs")
	}

	// The intermediates, recomputed from the primitives in the order of
	// docs/PROTOCOL.md, must give the same SK.
	spk := p.bundle.SignedPrekey().PublicKey()
	dh := func(b []byte, err error) hexBytes {
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	v.DH = []hexBytes{
		dh(p.alice.DH(spk)), // DH1 = DH(IKA, SPKB)
		dh(kdf.DH(p.ek, p.bundle.Identity().DHPublicKey())), // DH2 = DH(EKA, IKB)
		dh(kdf.DH(p.ek, spk)),                               // DH3 = DH(EKA, SPKB)
	}
	if opk, ok := p.bundle.OneTimePrekey(); ok {
		v.DH = append(v.DH, dh(kdf.DH(p.ek, opk.PublicKey()))) // DH4 = DH(EKA, OPKB)
	}
	ss, _, err := mlkemtest.Encapsulate768(p.bundle.PQPrekey().EncapsulationKey(), v.EncapsRandomness)
	if err != nil {
		tb.Fatal(err)
	}
	v.SS = ss
	dhs := make([][]byte, len(v.DH))
	for i := range v.DH {
		dhs[i] = v.DH[i]
	}
	sk, err := kdf.PQXDH(kdf.InfoPQXDH768, ss, dhs...)
	if err != nil || sk != skA {
		tb.Fatalf("SK is not HKDF(0xFF×32 ‖ DH1 ‖ … ‖ SS): %v", err)
	}
	v.SK = sk[:]
	v.AD = AssociatedData(p.alice.Public(), p.bundle.Identity())
	v.Initial = initial
	v.Used = used
}

// TestKnownAnswerVectors replays recorded handshakes (with and without an
// X25519 one-time prekey, with a one-time and the last-resort ML-KEM key) and
// checks every intermediate, SK, the associated data and the initial
// message byte for byte. Run with -update to regenerate them from a fixed
// seed (only when the protocol changes).
func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	for _, want := range loadVectors(t) {
		t.Run(want.Name, func(t *testing.T) {
			got := want
			got.DH, got.SS, got.SK, got.AD, got.Initial, got.Used = nil, nil, nil, nil, nil, nil
			computeVector(t, &got)
			w, _ := json.Marshal(want)
			g, _ := json.Marshal(got)
			if !bytes.Equal(w, g) {
				t.Fatalf("handshake differs from the known answer:\n got %s\nwant %s", g, w)
			}
			// Through the public API the responder reaches the same SK:
			// the session it returns opens a message sealed under SK.
			p := parseInputs(t, &want)
			st, used, err := Respond(p.bob, p.store, want.Initial, p.now)
			if err != nil || !slices.Equal(used, want.Used) {
				t.Fatalf("Respond: used %v, %v", used, err)
			}
			if st.Params() != params(p.alice.Public(), p.bob.Public()) {
				t.Fatal("Respond: session parameters differ")
			}
		})
	}
}

func generateVectors(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 2026)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	store, err := prekey.NewStore(bob, now)
	if err != nil {
		t.Fatal(err)
	}
	// Keep one one-time key of each kind, so the vectors stay small.
	var drop []uint32
	for _, k := range store.OneTimePrekeys()[1:] {
		drop = append(drop, k.ID())
	}
	for _, k := range store.PQOneTimePrekeys()[1:] {
		drop = append(drop, k.ID())
	}
	if err := store.Consume(drop); err != nil {
		t.Fatal(err)
	}
	var vs []vector
	for _, c := range []struct {
		name           string
		opk, oneTimePQ bool
	}{
		{"opk and one-time ML-KEM key", true, true},
		{"no opk, one-time ML-KEM key", false, true},
		{"opk and last-resort ML-KEM key", true, false},
		{"no opk, last-resort ML-KEM key", false, false},
	} {
		var opk *prekey.OneTimePrekey
		if c.opk {
			opk = &store.OneTimePrekeys()[0]
		}
		pq := store.LastResortPrekey()
		if c.oneTimePQ {
			pq = store.PQOneTimePrekeys()[0]
		}
		b, err := prekey.NewBundle(store.Identity(), store.SignedPrekey(), pq, opk)
		if err != nil {
			t.Fatal(err)
		}
		ek, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		m := make([]byte, 32)
		rand.Read(m)
		v := vector{Name: c.name, Now: now.Unix(), InitiatorIdentity: alice.Marshal(), ResponderIdentity: bob.Marshal(),
			ResponderStore: store.Marshal(), Bundle: b.Marshal(), Ephemeral: ek.Bytes(), EncapsRandomness: m}
		computeVector(t, &v)
		vs = append(vs, v)
	}
	f := vectorFile{
		Comment: "petrel crypto/pqxdh known answers (suite 0x01). Regenerate only deliberately: " +
			"go test ./crypto/pqxdh -run TestKnownAnswerVectors -update",
		Vectors: vs,
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
