package bridge

import (
	"bytes"
	"testing"
)

// Whatever parses as a push payload re-encodes to exactly the input; nothing panics.
func FuzzParsePayload(f *testing.F) {
	f.Add(Payload(nil))
	f.Add(Payload([]byte("envelope")))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		env, ok := ParsePayload(in)
		if ok && !bytes.Equal(Payload(env), in) {
			t.Fatalf("%x parses but re-encodes as %x", in, Payload(env))
		}
	})
}

func TestPayloadBounds(t *testing.T) {
	if e, ok := ParsePayload(Payload(make([]byte, MaxEnvelope))); !ok || len(e) != MaxEnvelope {
		t.Fatal("the largest envelope does not ride")
	}
	if e, ok := ParsePayload(Payload(make([]byte, MaxEnvelope+1))); !ok || e != nil {
		t.Fatal("an envelope over the record is not replaced by a wake-up")
	}
	if _, ok := ParsePayload([]byte{2, 0}); ok {
		t.Fatal("another version parsed")
	}
}
