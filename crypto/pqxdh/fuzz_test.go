package pqxdh

import (
	"bytes"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
)

// seedInitialMessages adds every recorded initial message, and a few
// malformed variants of the first, to the seed corpus.
func seedInitialMessages(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.Initial))
	}
	m := vs[0].Initial
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add([]byte{Version, SuiteX25519MLKEM1024})
	f.Add([]byte(m[:len(m)-1]))
	f.Add(append(bytes.Clone(m), 0))
	zeroIDs := bytes.Clone(m)
	clear(zeroIDs[2+identity.PublicSize+32 : 2+identity.PublicSize+44])
	f.Add(zeroIDs)
}

// FuzzParseInitialMessage: no input panics the initial-message parser; an
// accepted message is canonical (re-encodes to the same bytes) and names a
// verified initiator identity.
func FuzzParseInitialMessage(f *testing.F) {
	seedInitialMessages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseInitialMessage(b)
		if err != nil {
			if _, err2 := InitiatorIdentity(b); err2 == nil {
				t.Fatal("InitiatorIdentity accepted what parseInitialMessage refused")
			}
			return
		}
		if !bytes.Equal(m.marshal(), b) {
			t.Fatal("parseInitialMessage is not canonical")
		}
		if len(b) != InitialMessageSize || m.spkID == 0 || m.pqID == 0 {
			t.Fatal("accepted a message of the wrong size or with a zero prekey id")
		}
		p, err := InitiatorIdentity(b)
		if err != nil || !p.Equal(m.initiator) {
			t.Fatalf("InitiatorIdentity: %v", err)
		}
	})
}

// FuzzRespond: no initial message panics Respond or changes the responder's
// prekey store (one-time keys are consumed only by the caller, after the
// first message decrypts); an accepted one yields a serializable session
// and names only one-time keys the store holds.
func FuzzRespond(f *testing.F) {
	seedInitialMessages(f)
	v := loadVectors(f)[0]
	p := parseInputs(f, &v)
	f.Fuzz(func(t *testing.T, b []byte) {
		store, err := prekey.UnmarshalStore(v.ResponderStore)
		if err != nil {
			t.Fatal(err)
		}
		st, used, err := Respond(p.bob, store, b, p.now)
		if !bytes.Equal(store.Marshal(), v.ResponderStore) {
			t.Fatalf("Respond (err %v) changed the prekey store", err)
		}
		if err != nil {
			if st != nil || used != nil {
				t.Fatal("Respond returned a session with an error")
			}
			return
		}
		if st.IsInitiator() || st.HasReceived() {
			t.Fatal("a fresh responder session claims to have received")
		}
		if _, err := ratchet.Unmarshal(st.Marshal()); err != nil {
			t.Fatalf("responder session does not serialize: %v", err)
		}
		var held []uint32
		for _, k := range store.OneTimePrekeys() {
			held = append(held, k.ID())
		}
		for _, k := range store.PQOneTimePrekeys() {
			held = append(held, k.ID())
		}
		for _, id := range used {
			if !slices.Contains(held, id) {
				t.Fatalf("Respond reports using %d, not a one-time key of the store", id)
			}
		}
		if err := store.Consume(used); err != nil {
			t.Fatal(err)
		}
	})
}
