package identity

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vector: a private identity and what must follow from it.
type vector struct {
	Private string `json:"private"`
	Public  string `json:"public"`
	Text    string `json:"text"`
	UserID  string `json:"user_id"`
	Message string `json:"message"`
	// Signature of Message under DomainSignedPrekey.
	Signature string `json:"signature_spk_domain"`
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

func compute(tb testing.TB, priv []byte, msg []byte) vector {
	tb.Helper()
	id, err := Unmarshal(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return vector{
		Private:   hex.EncodeToString(priv),
		Public:    hex.EncodeToString(id.Public().Bytes()),
		Text:      id.Public().String(),
		UserID:    string(id.UserID()),
		Message:   hex.EncodeToString(msg),
		Signature: hex.EncodeToString(id.Sign(DomainSignedPrekey, msg)),
	}
}

// TestKnownAnswerVectors checks public keys, text form, user ID and a
// domain-separated signature derived from recorded private identities.
func TestKnownAnswerVectors(t *testing.T) {
	if *update {
		cryptotest.SetGlobalRandom(t, 42)
		var vs []vector
		for i := range 3 {
			id, err := Generate()
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, compute(t, id.Marshal(), []byte{byte(i), 'm', 's', 'g'}))
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range loadVectors(t) {
		priv, _ := hex.DecodeString(v.Private)
		msg, _ := hex.DecodeString(v.Message)
		if got := compute(t, priv, msg); got != v {
			t.Errorf("vector %d: got %+v\nwant %+v", i, got, v)
		}
		p, err := ParsePublicText(v.Text)
		if err != nil || hex.EncodeToString(p.Bytes()) != v.Public {
			t.Errorf("vector %d: text form does not parse back: %v", i, err)
		}
	}
}
