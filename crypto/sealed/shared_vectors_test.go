package sealed

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"
)

const sharedVectorsFile = "testdata/shared_body_vectors.json"

// sharedVector pins a shared body's bytes: the body a key and a payload give (HKDF info
// string, nonce derivation, padding bucket, AEAD), so an accidental change of that format
// fails here. A shared envelope's header is an ordinary sealed envelope (see TestVectors).
type sharedVector struct {
	Name    string   `json:"name"`
	Key     hexBytes `json:"key"`
	Payload hexBytes `json:"payload"`
	Body    hexBytes `json:"body"`
	SHA256  hexBytes `json:"body_sha256"`
}

func TestSharedBodyVectors(t *testing.T) {
	if *update {
		var out []sharedVector
		for i, n := range []int{0, 5, 300, 1500} {
			var key [sharedKeySize]byte
			for j := range key {
				key[j] = byte(i*31 + j)
			}
			payload := bytes.Repeat([]byte{byte('a' + i)}, n)
			sb, err := sealBody(key, payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sharedVector{Name: "payload-" + string(rune('0'+i)), Key: key[:], Payload: payload, Body: sb.body, SHA256: sb.hash[:]})
		}
		b, err := json.MarshalIndent(struct {
			Comment string         `json:"comment"`
			Vectors []sharedVector `json:"vectors"`
		}{"shared envelope bodies: body = sealBody(key, payload); generated once, checked forever", out}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sharedVectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(sharedVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []sharedVector }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s holds no vectors", sharedVectorsFile)
	}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var key [sharedKeySize]byte
			copy(key[:], v.Key)
			sb, err := sealBody(key, v.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sb.Body(), v.Body) {
				t.Fatalf("body\n got %x\nwant %x", sb.Body(), v.Body)
			}
			if sum := sha256.Sum256(v.Body); !bytes.Equal(sum[:], v.SHA256) || !bytes.Equal(sb.hash[:], v.SHA256) {
				t.Fatal("body hash differs")
			}
			if err := ParseBody(v.Body); err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			aead, nonce, err := bodyAEAD(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := aead.Open(nil, nonce, v.Body[bodyPrefix:], v.Body[:bodyPrefix]); err != nil {
				t.Fatalf("the vector's body does not open under its key: %v", err)
			}
			bad := bytes.Clone(v.Body)
			bad[len(bad)-1] ^= 1
			if _, err := aead.Open(nil, nonce, bad[bodyPrefix:], bad[:bodyPrefix]); err == nil {
				t.Fatal("a tampered body opened")
			}
		})
	}
}
