package safetynum

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json and the fuzz seed corpus (deliberately)")

const vectorsFile = "testdata/vectors.json"

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

type vector struct {
	LocalID           string   `json:"local_id"`
	LocalKey          hexBytes `json:"local_ed25519_public"`
	RemoteID          string   `json:"remote_id"`
	RemoteKey         hexBytes `json:"remote_ed25519_public"`
	LocalFingerprint  string   `json:"local_fingerprint"`
	RemoteFingerprint string   `json:"remote_fingerprint"`
	SafetyNumber      string   `json:"safety_number"`
	Scannable         hexBytes `json:"local_scannable"`
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

func compute(tb testing.TB, v vector) vector {
	tb.Helper()
	n := mustNew(tb, []byte(v.LocalID), ed25519.PublicKey(v.LocalKey), []byte(v.RemoteID), ed25519.PublicKey(v.RemoteKey))
	lf, err := Fingerprint([]byte(v.LocalID), ed25519.PublicKey(v.LocalKey))
	if err != nil {
		tb.Fatal(err)
	}
	rf, err := Fingerprint([]byte(v.RemoteID), ed25519.PublicKey(v.RemoteKey))
	if err != nil {
		tb.Fatal(err)
	}
	v.LocalFingerprint, v.RemoteFingerprint, v.SafetyNumber, v.Scannable = lf, rf, n.String(), n.Scannable()
	return v
}

func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	for i, v := range loadVectors(t) {
		if got := compute(t, v); !reflect.DeepEqual(got, v) {
			t.Errorf("vector %d\n got %+v\nwant %+v", i, got, v)
		}
	}
}

// generateVectors rewrites the vector file. Run it only on a deliberate change:
// go test ./crypto/safetynum -run TestVectors -update.
func generateVectors(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 0x5afe)
	f := vectorFile{Comment: "petrel safety numbers version 1 (see doc.go); keys generated once with testing/cryptotest.SetGlobalRandom."}
	for _, ids := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"12D3KooWExampleLocal", "12D3KooWExampleRemote"}} {
		lk, _, _ := ed25519.GenerateKey(rand.Reader)
		rk, _, _ := ed25519.GenerateKey(rand.Reader)
		f.Vectors = append(f.Vectors, compute(t, vector{LocalID: ids[0], LocalKey: hexBytes(lk), RemoteID: ids[1], RemoteKey: hexBytes(rk)}))
	}
	// The reverse view of the first pair: the same safety number.
	v := f.Vectors[0]
	f.Vectors = append(f.Vectors, compute(t, vector{LocalID: v.RemoteID, LocalKey: v.RemoteKey, RemoteID: v.LocalID, RemoteKey: v.LocalKey}))
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzMatchScanned")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Vectors {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", []byte(v.Scannable))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("vector-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVectorsReverseViewAgrees(t *testing.T) {
	vs := loadVectors(t)
	last := vs[len(vs)-1]
	if last.SafetyNumber != vs[0].SafetyNumber {
		t.Fatal("the reverse view of the first pair shows another number")
	}
	n := mustNew(t, []byte(vs[0].LocalID), ed25519.PublicKey(vs[0].LocalKey), []byte(vs[0].RemoteID), ed25519.PublicKey(vs[0].RemoteKey))
	if ok, err := n.MatchScanned(last.Scannable); !ok || err != nil {
		t.Fatalf("the reverse view's code does not match: %v", err)
	}
}

func FuzzMatchScanned(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.Scannable))
	}
	v := vs[0]
	n := mustNew(f, []byte(v.LocalID), ed25519.PublicKey(v.LocalKey), []byte(v.RemoteID), ed25519.PublicKey(v.RemoteKey))
	want := vs[len(vs)-1].Scannable
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, err := n.MatchScanned(b)
		if ok && (err != nil || string(b) != string(want)) {
			t.Fatalf("matched %x", b)
		}
	})
}
