package prekey

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"testing/cryptotest"

	"github.com/petrel-chat/petrel/crypto/identity"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vector: a serialized store and the bundles it must publish.
type vector struct {
	Identity         string `json:"identity_private"`
	Store            string `json:"store"`
	Bundle           string `json:"bundle"`
	LastResortBundle string `json:"last_resort_bundle"`
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

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func bundles(tb testing.TB, s *Store) (full, lastResort []byte) {
	tb.Helper()
	b, err := NewBundle(s.Identity(), s.SignedPrekey(), s.LastResortPrekey(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Bundle().Marshal(), b.Marshal()
}

// TestKnownAnswerVectors checks that recorded stores restore byte-identical
// and publish exactly the recorded, verifiable bundles.
func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		cryptotest.SetGlobalRandom(t, 7)
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		s, err := newStore(id, t0, 2)
		if err != nil {
			t.Fatal(err)
		}
		full, lr := bundles(t, s)
		vs := []vector{{hex.EncodeToString(id.Marshal()), hex.EncodeToString(s.Marshal()),
			hex.EncodeToString(full), hex.EncodeToString(lr)}}
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range loadVectors(t) {
		id, err := identity.Unmarshal(unhex(t, v.Identity))
		if err != nil {
			t.Fatal(err)
		}
		s, err := UnmarshalStore(unhex(t, v.Store))
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if !s.Identity().Equal(id.Public()) {
			t.Fatalf("vector %d: store owner differs", i)
		}
		if !bytes.Equal(s.Marshal(), unhex(t, v.Store)) {
			t.Errorf("vector %d: store does not re-marshal identically", i)
		}
		full, lr := bundles(t, s)
		if hex.EncodeToString(full) != v.Bundle || hex.EncodeToString(lr) != v.LastResortBundle {
			t.Errorf("vector %d: published bundles differ from the known answers", i)
		}
		for _, b := range []string{v.Bundle, v.LastResortBundle} {
			if _, err := ParseBundle(unhex(t, b)); err != nil {
				t.Errorf("vector %d: recorded bundle does not verify: %v", i, err)
			}
		}
	}
}
