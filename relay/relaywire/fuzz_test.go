package relaywire

import (
	"bytes"
	"testing"
)

// Every decoder has a fuzz target seeded from testdata/vectors.json and the corpus in
// testdata/fuzz/<target>/ (written by go test -run TestVectors -update). The property: no
// panic, and whatever parses re-encodes to exactly the input (one encoding per value).
// Run one with: go test -fuzz=FuzzParseDeposit -fuzztime=1m ./relay/relaywire

var fuzzTargets = map[string]string{
	"deposit": "FuzzParseDeposit", "result": "FuzzParseResult", "auth": "FuzzParseAuth",
	"challenge": "FuzzParseChallenge", "proof": "FuzzParseProof", "fetch": "FuzzParseFetch",
	"mail": "FuzzParseMail", "fetch_end": "FuzzParseFetchEnd", "ack": "FuzzParseAck",
	"watch": "FuzzParseWatch", "notice": "FuzzParseNotice", "upload": "FuzzParseUpload",
	"remaining": "FuzzParseRemaining", "count": "FuzzParseCount", "get_bundle": "FuzzParseGetBundle",
	"bundle": "FuzzParseBundle", "frame": "FuzzReadFrame",
	"multi_deposit": "FuzzParseMultiDeposit", "multi_result": "FuzzParseMultiResult",
}

func fuzzDecoder(f *testing.F, name string) {
	for _, v := range loadVectors(f) {
		if v.Decoder == name {
			f.Add(unhex(f, v.Hex))
		}
	}
	dec := decoders[name]
	f.Fuzz(func(t *testing.T, in []byte) {
		_, again, err := dec(in)
		if err == nil && !bytes.Equal(again, in) {
			t.Fatalf("%s: parsed input re-encodes differently:\n in %x\nout %x", name, in, again)
		}
	})
}

func FuzzParseDeposit(f *testing.F)      { fuzzDecoder(f, "deposit") }
func FuzzParseResult(f *testing.F)       { fuzzDecoder(f, "result") }
func FuzzParseAuth(f *testing.F)         { fuzzDecoder(f, "auth") }
func FuzzParseChallenge(f *testing.F)    { fuzzDecoder(f, "challenge") }
func FuzzParseProof(f *testing.F)        { fuzzDecoder(f, "proof") }
func FuzzParseFetch(f *testing.F)        { fuzzDecoder(f, "fetch") }
func FuzzParseMail(f *testing.F)         { fuzzDecoder(f, "mail") }
func FuzzParseFetchEnd(f *testing.F)     { fuzzDecoder(f, "fetch_end") }
func FuzzParseAck(f *testing.F)          { fuzzDecoder(f, "ack") }
func FuzzParseWatch(f *testing.F)        { fuzzDecoder(f, "watch") }
func FuzzParseNotice(f *testing.F)       { fuzzDecoder(f, "notice") }
func FuzzParseUpload(f *testing.F)       { fuzzDecoder(f, "upload") }
func FuzzParseRemaining(f *testing.F)    { fuzzDecoder(f, "remaining") }
func FuzzParseCount(f *testing.F)        { fuzzDecoder(f, "count") }
func FuzzParseGetBundle(f *testing.F)    { fuzzDecoder(f, "get_bundle") }
func FuzzParseBundle(f *testing.F)       { fuzzDecoder(f, "bundle") }
func FuzzReadFrame(f *testing.F)         { fuzzDecoder(f, "frame") }
func FuzzParseMultiDeposit(f *testing.F) { fuzzDecoder(f, "multi_deposit") }
func FuzzParseMultiResult(f *testing.F)  { fuzzDecoder(f, "multi_result") }
