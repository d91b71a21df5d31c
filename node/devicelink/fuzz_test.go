package devicelink

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func TestChunkRoundTripAndRefusals(t *testing.T) {
	recs := []record{{[]byte("cv/a"), []byte("1")}, {[]byte("ms/b"), []byte("2")}, {[]byte("settings"), nil}}
	b := appendChunk(nil, recs, true)
	got, done, err := parseChunk(b, nil)
	if err != nil || !done || len(got) != 3 || string(got[1].Value) != "2" {
		t.Fatalf("round trip: %v %v %v", got, done, err)
	}
	for name, c := range map[string]struct {
		recs  []record
		after string
	}{
		"identity key":   {[]record{{[]byte("cfg/identity"), []byte("k")}}, ""},
		"session":        {[]record{{[]byte("ss/c/0"), []byte("k")}}, ""},
		"own link state": {[]record{{[]byte("dl/j"), []byte("{}")}}, ""},
		"peer key":       {[]record{{[]byte("cfg/p2pkey"), []byte("k")}}, ""},
		"api token":      {[]record{{[]byte("cfg/apitoken"), []byte("k")}}, ""},
		"profile prefix": {[]record{{[]byte("cfg/profileX"), []byte("k")}}, ""},
		"out of order":   {[]record{{[]byte("ms/b"), nil}, {[]byte("cv/a"), nil}}, ""},
		"duplicate":      {[]record{{[]byte("ms/b"), nil}, {[]byte("ms/b"), nil}}, ""},
		"before cursor":  {[]record{{[]byte("cv/a"), nil}}, "ms/"},
	} {
		if _, _, err := parseChunk(appendChunk(nil, c.recs, false), []byte(c.after)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, _, err := parseChunk(append(b, 0), nil); !errors.Is(err, ErrMalformed) {
		t.Error("trailing byte accepted")
	}
}

// TestTransferPrefixesSorted: the cursor walks the prefixes once only if they are in key
// order.
func TestTransferPrefixesSorted(t *testing.T) {
	for i := 1; i < len(transferPrefixes); i++ {
		if bytes.Compare(transferPrefixes[i-1], transferPrefixes[i]) >= 0 {
			t.Fatalf("%q before %q", transferPrefixes[i-1], transferPrefixes[i])
		}
	}
}

func FuzzParseChunk(f *testing.F) {
	f.Add(appendChunk(nil, []record{{[]byte("cv/a"), []byte("1")}, {[]byte("ms/b"), []byte("2")}}, true), []byte(nil))
	f.Add([]byte{1, 0, 0}, []byte("cv/"))
	f.Fuzz(func(t *testing.T, b, after []byte) {
		recs, done, err := parseChunk(b, after)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		if !bytes.Equal(appendChunk(nil, recs, done), b) {
			t.Fatal("a parsed chunk does not re-encode to its bytes")
		}
	})
}

// FuzzFrames: the primary's decoding of a first frame (hello or resume) and the device's
// decoding of a welcome never panic and refuse with ErrMalformed or ErrRefused.
func FuzzFrames(f *testing.F) {
	f.Add([]byte(`{"v":1,"link":"00000000000000000000000000000000","key":"","name":"x","addrs":[],"relays":[],"proof":""}`))
	f.Add([]byte(`{"v":1,"proof":"","account":"","list":""}`))
	f.Add([]byte(`{"v":1,"id":"00000000000000000000000000000000","proof":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h hello
		if jsonUnmarshal(b, &h) == nil {
			checkHello(&h)
		}
		var r resume
		jsonUnmarshal(b, &r)
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if writeFrame(bw, typeWelcome, b) != nil {
			return
		}
		if _, err := readWelcome(bufio.NewReader(&buf)); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
	})
}
