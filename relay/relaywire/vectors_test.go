package relaywire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors.json and the fuzz seed corpus (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vector: for a valid one, the decoder parses Hex into View and re-encodes exactly Hex;
// for an invalid one (Error set), the decoder refuses Hex with that error.
type vector struct {
	Decoder string `json:"decoder"`
	Comment string `json:"comment"`
	Hex     string `json:"hex"`
	View    string `json:"view,omitempty"`
	Error   string `json:"error,omitempty"` // "malformed", "too_large", "truncated"
}

var vectorErrors = map[string]error{
	"malformed": ErrMalformed,
	"too_large": ErrTooLarge,
	"truncated": io.ErrUnexpectedEOF,
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
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

// TestVectors: every known answer parses to its view and re-encodes byte for byte; every
// invalid input is refused with its error; every decoder has vectors of both kinds.
func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	vs := loadVectors(t)
	valid, invalid := map[string]int{}, map[string]int{}
	for i, v := range vs {
		dec := decoders[v.Decoder]
		if dec == nil {
			t.Fatalf("vector %d: unknown decoder %q", i, v.Decoder)
		}
		in := unhex(t, v.Hex)
		view, again, err := dec(in)
		if v.Error != "" {
			invalid[v.Decoder]++
			if !errors.Is(err, vectorErrors[v.Error]) {
				t.Errorf("%s %q: err = %v, want %s", v.Decoder, v.Comment, err, v.Error)
			}
			continue
		}
		valid[v.Decoder]++
		if err != nil {
			t.Errorf("%s %q: %v", v.Decoder, v.Comment, err)
			continue
		}
		if view != v.View {
			t.Errorf("%s %q: view\n got %s\nwant %s", v.Decoder, v.Comment, view, v.View)
		}
		if !bytes.Equal(again, in) {
			t.Errorf("%s %q: re-encoded\n got %x\nwant %x", v.Decoder, v.Comment, again, in)
		}
	}
	for name := range decoders {
		if valid[name] == 0 || invalid[name] == 0 {
			t.Errorf("decoder %s: %d valid and %d invalid vectors; want both", name, valid[name], invalid[name])
		}
	}
}

func frame(body []byte) []byte {
	var b bytes.Buffer
	b.Write(appendUvarint(nil, uint64(len(body))))
	b.Write(body)
	return b.Bytes()
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// generateVectors rebuilds testdata/vectors.json from fixed inputs (fresh keys for the
// prekey vectors) and writes the fuzz seed corpus.
func generateVectors(t *testing.T) {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	st, err := prekey.NewStore(id, time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	mb := MailboxID(id.Public())
	env := bytes.Repeat([]byte{0xee}, 40)
	sig := bytes.Repeat([]byte{0x5a}, SignatureSize)
	chal := bytes.Repeat([]byte{0xc3}, ChallengeSize)
	up := &Upload{SignedPrekey: st.SignedPrekey(), LastResort: st.LastResortPrekey(),
		OneTime: st.OneTimePrekeys()[:2], PQOneTime: st.PQOneTimePrekeys()[:1]}
	upNone := &Upload{SignedPrekey: st.SignedPrekey(), LastResort: st.LastResortPrekey()}
	bundle := st.Bundle().Marshal()
	lastResortBundle, err := prekey.NewBundle(id.Public(), st.SignedPrekey(), st.LastResortPrekey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	valid := []struct {
		dec, comment string
		body         []byte
	}{
		{"deposit", "16-byte mailbox, opaque envelope", AppendDeposit(nil, Deposit{Mailbox: mb, Envelope: env})},
		{"deposit", "1-byte mailbox", AppendDeposit(nil, Deposit{Mailbox: []byte{7}, Envelope: []byte{1}})},
		{"deposit", "with an expiry", AppendDeposit(nil, Deposit{Mailbox: mb, Envelope: env, ExpiresAt: 1_800_000_000_123})},
		{"result", "ok", AppendResult(nil, Result{Code: OK})},
		{"result", "quota refusal with a message", AppendResult(nil, Result{Code: CodeQuotaBytes, Message: "mailbox holds 1048576 of 1048576 bytes"})},
		{"result", "unknown code", AppendResult(nil, Result{Code: 200, Message: "é"})},
		{"auth", "public identity", AppendAuth(nil, id.Public())},
		{"challenge", "32 bytes", AppendChallenge(nil, chal)},
		{"proof", "fetch proof", AppendProof(nil, Proof{Signature: sig})},
		{"proof", "register with invite", AppendProof(nil, Proof{Register: true, Signature: sig, Invite: "garden-party-2026"})},
		{"fetch", "max 1", AppendFetch(nil, 1)},
		{"fetch", "max 4096", AppendFetch(nil, MaxFetch)},
		{"mail", "id 1", AppendMail(nil, Mail{ID: 1, DepositedAt: 1_800_000_000_123, Envelope: env})},
		{"mail", "large id", AppendMail(nil, Mail{ID: 1<<63 + 5, DepositedAt: 0, Envelope: []byte{0}})},
		{"fetch_end", "more", AppendFetchEnd(nil, true)},
		{"fetch_end", "done", AppendFetchEnd(nil, false)},
		{"ack", "three ids", AppendAck(nil, []uint64{1, 2, 300})},
		{"watch", "watch", AppendWatch(nil)},
		{"notice", "3 waiting", AppendNotice(nil, 3)},
		{"notice", "300 waiting", AppendNotice(nil, 300)},
		{"upload", "two one-time, one PQ one-time", AppendUpload(nil, up)},
		{"upload", "no one-time keys", AppendUpload(nil, upNone)},
		{"remaining", "counts", AppendRemaining(nil, Remaining{OneTime: 98, PQOneTime: 300})},
		{"count", "count", AppendCount(nil)},
		{"get_bundle", "mailbox", AppendGetBundle(nil, mb)},
		{"bundle", "with one-time keys", AppendBundle(nil, bundle)},
		{"bundle", "last resort only", AppendBundle(nil, lastResortBundle.Marshal())},
		{"frame", "two frames", append(frame([]byte{TypeWatch}), frame(AppendFetch(nil, 5))...)},
		{"frame", "empty body", frame(nil)},
	}
	valid = append(valid, multiValid()...)
	badEnv := AppendDeposit(nil, Deposit{Mailbox: mb, Envelope: env})
	upBytes := AppendUpload(nil, up)
	invalid := []struct {
		dec, comment, err string
		in                []byte
	}{
		{"deposit", "empty mailbox", "malformed", []byte{TypeDeposit, 0, 1}},
		{"deposit", "no envelope", "malformed", badEnv[:2+MailboxIDSize]},
		{"deposit", "wrong type", "malformed", append([]byte{TypeMail}, badEnv[1:]...)},
		{"deposit", "expiry 0", "malformed", append([]byte{TypeDepositUntil, 0, 0, 0, 0, 0, 0, 0, 0}, badEnv[1:]...)},
		{"deposit", "negative expiry", "malformed", append([]byte{TypeDepositUntil, 0x80, 0, 0, 0, 0, 0, 0, 1}, badEnv[1:]...)},
		{"deposit", "expiry cut short", "malformed", []byte{TypeDepositUntil, 0, 0, 0, 1}},
		{"deposit", "expiry, no mailbox", "malformed", []byte{TypeDepositUntil, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"result", "invalid UTF-8", "malformed", []byte{TypeResult, 1, 0xff}},
		{"result", "no code", "malformed", []byte{TypeResult}},
		{"auth", "short", "malformed", AppendAuth(nil, id.Public())[:100]},
		{"auth", "bad self-signature", "malformed", func() []byte { b := AppendAuth(nil, id.Public()); b[len(b)-1] ^= 1; return b }()},
		{"challenge", "31 bytes", "malformed", AppendChallenge(nil, chal[:31])},
		{"proof", "unknown flag", "malformed", append([]byte{TypeProof, 2}, sig...)},
		{"proof", "short signature", "malformed", append([]byte{TypeProof, 0}, sig[:63]...)},
		{"fetch", "max 0", "malformed", []byte{TypeFetch, 0}},
		{"fetch", "non-minimal uvarint", "malformed", []byte{TypeFetch, 0x81, 0x00}},
		{"fetch", "over MaxFetch", "malformed", AppendFetch(nil, MaxFetch+1)},
		{"mail", "no envelope", "malformed", AppendMail(nil, Mail{ID: 1})},
		{"fetch_end", "flag 2", "malformed", []byte{TypeFetchEnd, 2}},
		{"ack", "zero ids", "malformed", []byte{TypeAck, 0}},
		{"ack", "count says 2, one id", "malformed", append([]byte{TypeAck, 2}, make([]byte, 8)...)},
		{"ack", "count over MaxAckIDs", "malformed", ackClaiming(MaxAckIDs + 1)},
		{"watch", "trailing byte", "malformed", []byte{TypeWatch, 0}},
		{"notice", "trailing byte", "malformed", []byte{TypeNotice, 1, 1}},
		{"upload", "truncated PQ one-time key", "malformed", upBytes[:len(upBytes)-1]},
		{"upload", "one-time count beyond the body", "malformed", func() []byte {
			b := AppendUpload(nil, upNone)
			b[1+prekey.SignedPrekeySize+prekey.PQPrekeySize] = 5
			return b
		}()},
		{"upload", "last-resort slot holds a one-time PQ key", "malformed", AppendUpload(nil, &Upload{SignedPrekey: st.SignedPrekey(), LastResort: st.PQOneTimePrekeys()[0]})},
		{"remaining", "missing second count", "malformed", []byte{TypeRemaining, 1}},
		{"count", "trailing byte", "malformed", []byte{TypeCount, 1}},
		{"get_bundle", "15-byte mailbox", "malformed", AppendGetBundle(nil, mb[:15])},
		{"bundle", "tampered signature", "malformed", func() []byte { b := AppendBundle(nil, bundle); b[1+identity.PublicSize+50] ^= 1; return b }()},
		{"bundle", "empty", "malformed", []byte{TypeBundle}},
		{"frame", "length beyond MaxFrame", "too_large", appendUvarint(nil, MaxFrame+1)},
		{"frame", "truncated body", "truncated", []byte{5, 1, 2}},
		{"frame", "truncated length", "truncated", []byte{0x80}},
		{"frame", "length over 64 bits", "malformed", bytes.Repeat([]byte{0xff}, 11)},
		{"frame", "non-minimal length", "malformed", []byte{0x80, 0x00}},
	}
	invalid = append(invalid, multiInvalid()...)
	var vs []vector
	for _, v := range valid {
		view, again, err := decoders[v.dec](v.body)
		if err != nil || !bytes.Equal(again, v.body) {
			t.Fatalf("generating %s %q: %v (re-encoded equal: %v)", v.dec, v.comment, err, bytes.Equal(again, v.body))
		}
		vs = append(vs, vector{Decoder: v.dec, Comment: v.comment, Hex: hex.EncodeToString(v.body), View: view})
	}
	for _, v := range invalid {
		vs = append(vs, vector{Decoder: v.dec, Comment: v.comment, Hex: hex.EncodeToString(v.in), Error: v.err})
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeedCorpus(t, vs)
}

// multiValid and multiInvalid are the MultiDeposit and MultiResult vectors (fixed bytes:
// the relay does not open headers or bodies).
func multiValid() []struct {
	dec, comment string
	body         []byte
} {
	mb1, mb2 := bytes.Repeat([]byte{0x11}, MailboxIDSize), bytes.Repeat([]byte{0x22}, MailboxIDSize)
	return []struct {
		dec, comment string
		body         []byte
	}{
		{"multi_deposit", "two recipients", AppendMultiDeposit(nil, MultiDeposit{
			Recipients: []Recipient{{Mailbox: mb1, Header: []byte{0xa1, 0xa2}}, {Mailbox: mb2, Header: []byte{0xb1}}},
			Body:       []byte{0xbb, 0xbb, 0xbb},
		})},
		{"multi_deposit", "one recipient, 200-byte header", AppendMultiDeposit(nil, MultiDeposit{
			Recipients: []Recipient{{Mailbox: mb1, Header: bytes.Repeat([]byte{0xa0}, 200)}},
			Body:       []byte{0x01},
		})},
		{"multi_deposit", "with an expiry", AppendMultiDeposit(nil, MultiDeposit{
			Recipients: []Recipient{{Mailbox: mb1, Header: []byte{0xa1}}}, Body: []byte{0xbb}, ExpiresAt: 1_800_000_000_123,
		})},
		{"multi_result", "ok and quota_bytes", AppendMultiResult(nil, []Code{OK, CodeQuotaBytes})},
		{"multi_result", "one unknown code", AppendMultiResult(nil, []Code{200})},
	}
}

func multiInvalid() []struct {
	dec, comment, err string
	in                []byte
} {
	mb := bytes.Repeat([]byte{0x11}, MailboxIDSize)
	one := func(header, body []byte) []byte {
		return AppendMultiDeposit(nil, MultiDeposit{Recipients: []Recipient{{Mailbox: mb, Header: header}}, Body: body})
	}
	many := func(n int) []byte {
		d := MultiDeposit{Body: []byte{1}}
		for i := range n {
			m := make([]byte, MailboxIDSize)
			binary.BigEndian.PutUint32(m, uint32(i))
			d.Recipients = append(d.Recipients, Recipient{Mailbox: m, Header: []byte{2}})
		}
		return AppendMultiDeposit(nil, d)
	}
	return []struct {
		dec, comment, err string
		in                []byte
	}{
		{"multi_deposit", "no recipients", "malformed", []byte{TypeMultiDeposit, 0, 1}},
		{"multi_deposit", "no body", "malformed", one([]byte{1}, nil)},
		{"multi_deposit", "empty header", "malformed", one(nil, []byte{1})},
		{"multi_deposit", "header over MaxHeaderSize", "malformed", one(make([]byte, MaxHeaderSize+1), []byte{1})},
		{"multi_deposit", "header length beyond the frame", "malformed", append([]byte{TypeMultiDeposit, 1}, append(bytes.Clone(mb), 5, 1)...)},
		{"multi_deposit", "a mailbox twice", "malformed", AppendMultiDeposit(nil, MultiDeposit{
			Recipients: []Recipient{{Mailbox: mb, Header: []byte{1}}, {Mailbox: mb, Header: []byte{2}}}, Body: []byte{3}})},
		{"multi_deposit", "501 recipients", "malformed", many(MaxRecipients + 1)},
		{"multi_deposit", "short mailbox", "malformed", append([]byte{TypeMultiDeposit, 1}, mb[:10]...)},
		{"multi_deposit", "expiry 0", "malformed", append([]byte{TypeMultiDepositUntil, 0, 0, 0, 0, 0, 0, 0, 0}, one([]byte{1}, []byte{1})[1:]...)},
		{"multi_deposit", "expiry cut short", "malformed", []byte{TypeMultiDepositUntil, 0, 0, 1}},
		{"multi_deposit", "expiry, no recipients", "malformed", []byte{TypeMultiDepositUntil, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}},
		{"multi_result", "count says 2, one code", "malformed", []byte{TypeMultiResult, 2, 0}},
		{"multi_result", "zero codes", "malformed", []byte{TypeMultiResult, 0}},
	}
}

// ackClaiming is an Ack body claiming n ids with none following.
func ackClaiming(n uint64) []byte { return appendUvarint([]byte{TypeAck}, n) }

// writeSeedCorpus writes each vector's input as a seed of its decoder's fuzz target.
func writeSeedCorpus(t *testing.T, vs []vector) {
	byTarget := map[string][]vector{}
	for _, v := range vs {
		byTarget[fuzzTargets[v.Decoder]] = append(byTarget[fuzzTargets[v.Decoder]], v)
	}
	names := make([]string, 0, len(byTarget))
	for n := range byTarget {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, target := range names {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, v := range byTarget[target] {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", unhex(t, v.Hex))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("vector-%02d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
