package relaystore

import (
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// The store decodes its own records (counters, registrations) when it reads them back; a
// corrupted disk must give an error, never a panic. Run with
// go test -fuzz=FuzzParseRecords -fuzztime=1m ./relay/relaystore

func FuzzParseRecords(f *testing.F) {
	id, err := identity.Generate()
	if err != nil {
		f.Fatal(err)
	}
	reg := append([]byte{formatVersion, 0, 0, 1, 0x8f, 0, 0, 0, 0}, id.Public().Bytes()...)
	f.Add(reg)
	f.Add(counters{next: 7, count: 3, bytes: 999}.marshal())
	f.Add([]byte{})
	f.Add(reg[:100])
	f.Add(bodyRef{refs: 3, expiresAt: 1 << 40, size: 5000}.marshal())
	f.Add(append(make([]byte, 16), SharedMark, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 'h'))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := parseCounters(b); err == nil && string(c.marshal()) != string(b) {
			t.Fatalf("counters %x re-encode as %x", b, c.marshal())
		}
		if r, err := parseBodyRef(b); err == nil && string(r.marshal()) != string(b) {
			t.Fatalf("body reference %x re-encodes as %x", b, r.marshal())
		}
		if r, err := ParseMailRecord(b); err == nil && r.Charged() < 0 {
			t.Fatalf("mail record %x charged %d", b, r.Charged())
		}
		if p, err := parseRegistration(b); err == nil && string(p.Bytes()) != string(b[9:]) {
			t.Fatal("registration identity does not round-trip")
		}
	})
}
