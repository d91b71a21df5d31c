package sealed

import (
	"bytes"
	"testing"
)

// The relay's parser and the recipient's Open are fuzzed: no panic, and whatever opens
// must re-seal consistently. Seeds: testdata/fuzz/* (the vectors).

func FuzzParseHeader(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Envelope))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if len(h.Mailbox) == 0 || !bytes.Equal(h.Mailbox, b[prefixSize:prefixSize+len(h.Mailbox)]) {
			t.Fatalf("mailbox %x not at its place in %x", h.Mailbox, b)
		}
	})
}

func FuzzOpen(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.Envelope))
	}
	recipient := mustX25519(f, vs[0].RecipientDH)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Open(b, recipient)
		if err != nil {
			return
		}
		if len(b) != Size(int(b[2]), len(o.Payload)) {
			t.Fatalf("opened an envelope of %d bytes for a payload of %d", len(b), len(o.Payload))
		}
	})
}
