package senderkey

import (
	"bytes"
	"testing"
)

// Every decoder is fuzzed: it must not panic, must refuse or accept deterministically,
// and must leave any state untouched when it refuses. Seeds: testdata/fuzz/* (the vectors).

func FuzzParseDistribution(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Distribution))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDistribution(b)
		if err != nil {
			return
		}
		// Canonical: what parses re-encodes to the same bytes.
		if got := marshalDistribution(&d.id, d.iteration, &d.chainKey, d.sigPub[:]); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
		NewReceiver(d)
	})
}

func FuzzDecrypt(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		for _, m := range v.Messages {
			f.Add([]byte(m.Message))
		}
	}
	dist := vs[0].Distribution
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseMessage(b); err == nil && len(m.signed)+sigSize != len(b) {
			t.Fatal("parsed message does not cover its input")
		}
		d, err := ParseDistribution(dist)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReceiver(d)
		before := marshalReceiver(t, r)
		if _, err := r.Decrypt(b); err != nil {
			if !bytes.Equal(before, marshalReceiver(t, r)) {
				t.Fatalf("state changed on refused input (%v)", err)
			}
		}
	})
}

func FuzzUnmarshalReceiver(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.ReceiverState))
	}
	msg := vs[0].Messages[0].Message
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalReceiver(b)
		if err != nil {
			return
		}
		if got := marshalReceiver(t, r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
		before := marshalReceiver(t, r)
		if _, err := r.Decrypt(msg); err != nil && !bytes.Equal(before, marshalReceiver(t, r)) {
			t.Fatal("state changed on a refused message")
		}
	})
}

func FuzzUnmarshalSender(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.SenderState))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSender(b)
		if err != nil {
			return
		}
		if got, _ := s.MarshalBinary(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
		s.Encrypt([]byte("x"))
	})
}
