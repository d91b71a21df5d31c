package senderkey

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json and the fuzz seed corpus (deliberately)")

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

// vector is one chain: the sender's secrets at a starting iteration, the distribution
// message they give, the messages encrypting the plaintexts in turn, the states after,
// and tampered messages with the error each must produce.
type vector struct {
	Name          string    `json:"name"`
	ID            hexBytes  `json:"distribution_id"`
	Iteration     uint32    `json:"iteration"`
	ChainKey      hexBytes  `json:"chain_key"`
	SigningSeed   hexBytes  `json:"signing_seed"`
	Distribution  hexBytes  `json:"distribution"`
	Messages      []message `json:"messages"`
	SenderState   hexBytes  `json:"sender_state_after"`
	ReceiverState hexBytes  `json:"receiver_state_after_reverse_order"`
	Invalid       []invalid `json:"invalid"`
}

type message struct {
	Plaintext hexBytes `json:"plaintext"`
	Message   hexBytes `json:"message"`
}

type invalid struct {
	Name    string   `json:"name"`
	Message hexBytes `json:"message"`
	Error   string   `json:"error"`
}

var errorNames = map[string]error{
	"ErrMalformed": ErrMalformed, "ErrUnsupported": ErrUnsupported, "ErrUnknownChain": ErrUnknownChain,
	"ErrBadSignature": ErrBadSignature, "ErrDuplicate": ErrDuplicate, "ErrTooFarAhead": ErrTooFarAhead,
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		tb.Fatalf("%s holds no vectors", vectorsFile)
	}
	return f.Vectors
}

func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	vs := loadVectors(t)
	n := 0
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if len(v.Messages) == 0 || len(v.Invalid) == 0 {
				t.Fatal("vector without messages or invalid cases")
			}
			s := newSenderFrom(DistributionID(v.ID), v.Iteration, [32]byte(v.ChainKey), v.SigningSeed)
			if got := s.Distribution(); !bytes.Equal(got, v.Distribution) {
				t.Fatalf("distribution\n got %x\nwant %x", got, v.Distribution)
			}
			for i, m := range v.Messages {
				got := mustEncrypt(t, s, m.Plaintext)
				if !bytes.Equal(got, m.Message) {
					t.Fatalf("message %d\n got %x\nwant %x", i, got, m.Message)
				}
			}
			if got, _ := s.MarshalBinary(); !bytes.Equal(got, v.SenderState) {
				t.Fatalf("sender state\n got %x\nwant %x", got, v.SenderState)
			}
			r := NewReceiver(mustParseDistribution(t, v.Distribution))
			for _, inv := range v.Invalid {
				refuseUnchanged(t, r, inv.Message, errorNames[inv.Error])
			}
			for i := len(v.Messages) - 1; i >= 0; i-- {
				got, err := r.Decrypt(v.Messages[i].Message)
				if err != nil || !bytes.Equal(got, v.Messages[i].Plaintext) {
					t.Fatalf("decrypt message %d: %v", i, err)
				}
			}
			if got := marshalReceiver(t, r); !bytes.Equal(got, v.ReceiverState) {
				t.Fatalf("receiver state\n got %x\nwant %x", got, v.ReceiverState)
			}
			n++
		})
	}
	if n == 0 {
		t.Fatal("no vector ran")
	}
}

// generateVectors rewrites the vector file from deterministic randomness. Run it only
// when the format changes on purpose: go test -run TestVectors -update.
func generateVectors(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 0x5e4de4)
	f := vectorFile{Comment: "petrel senderkey suite 0x01 known-answer vectors; see doc.go. Generated once with testing/cryptotest.SetGlobalRandom; regenerate with -update only on a deliberate format change."}
	for _, c := range []struct {
		name  string
		skip  int
		sizes []int
	}{
		{"fresh chain", 0, []int{0, 1, 100, 1000}},
		{"chain at iteration 41", 41, []int{5, 300}},
	} {
		s, err := NewSender()
		if err != nil {
			t.Fatal(err)
		}
		for range c.skip {
			mustEncrypt(t, s, nil)
		}
		v := vector{Name: c.name, ID: s.id[:], Iteration: s.iteration, ChainKey: bytes.Clone(s.chainKey[:]),
			SigningSeed: s.sigPriv.Seed(), Distribution: s.Distribution()}
		for i, n := range c.sizes {
			pt := bytes.Repeat([]byte{byte('a' + i)}, n)
			v.Messages = append(v.Messages, message{Plaintext: pt, Message: mustEncrypt(t, s, pt)})
		}
		v.SenderState, _ = s.MarshalBinary()
		r := NewReceiver(mustParseDistribution(t, v.Distribution))
		for i := len(v.Messages) - 1; i >= 0; i-- {
			if _, err := r.Decrypt(v.Messages[i].Message); err != nil {
				t.Fatal(err)
			}
		}
		v.ReceiverState = marshalReceiver(t, r)

		m := v.Messages[len(v.Messages)-1].Message
		flip := func(i int) hexBytes { b := bytes.Clone(m); b[i] ^= 0x01; return b }
		far := mustEncrypt(t, newSenderFrom(s.id, v.Iteration+MaxSkip+1, [32]byte(v.ChainKey), v.SigningSeed), []byte("far"))
		v.Invalid = []invalid{
			{"flipped ciphertext byte", flip(headerSize), "ErrBadSignature"},
			{"flipped iteration", flip(headerSize - 1), "ErrBadSignature"},
			{"flipped signature", flip(len(m) - 1), "ErrBadSignature"},
			{"unknown distribution id", flip(2), "ErrUnknownChain"},
			{"version 2", func() hexBytes { b := bytes.Clone(m); b[0] = 2; return b }(), "ErrUnsupported"},
			{"truncated", m[:minMessageSize-1], "ErrMalformed"},
			{"beyond MaxSkip", far, "ErrTooFarAhead"},
		}
		f.Vectors = append(f.Vectors, v)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeedCorpus(t, f.Vectors)
}

// writeSeedCorpus commits the vectors as the fuzz targets' seed corpus.
func writeSeedCorpus(t *testing.T, vs []vector) {
	seeds := map[string][][]byte{}
	for _, v := range vs {
		seeds["FuzzParseDistribution"] = append(seeds["FuzzParseDistribution"], v.Distribution)
		seeds["FuzzUnmarshalSender"] = append(seeds["FuzzUnmarshalSender"], v.SenderState)
		seeds["FuzzUnmarshalReceiver"] = append(seeds["FuzzUnmarshalReceiver"], v.ReceiverState)
		for _, m := range v.Messages {
			seeds["FuzzDecrypt"] = append(seeds["FuzzDecrypt"], m.Message)
		}
		for _, inv := range v.Invalid {
			seeds["FuzzDecrypt"] = append(seeds["FuzzDecrypt"], inv.Message)
		}
	}
	for target, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("vector-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
