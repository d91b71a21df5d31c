package relaywire

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// TestMailboxIDKnownAnswer pins the mailbox id derivation to a fixed public identity.
func TestMailboxIDKnownAnswer(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Decoder != "auth" || v.Error != "" {
			continue
		}
		p, err := ParseAuth(unhex(t, v.Hex))
		if err != nil {
			t.Fatal(err)
		}
		got := MailboxID(p)
		if len(got) != MailboxIDSize {
			t.Fatalf("mailbox id of %d bytes", len(got))
		}
		// The same identity's deposit vector names this mailbox.
		for _, d := range loadVectors(t) {
			if d.Decoder == "deposit" && d.Comment == "16-byte mailbox, opaque envelope" {
				dep, _ := ParseDeposit(unhex(t, d.Hex))
				if !bytes.Equal(dep.Mailbox, got) {
					t.Errorf("MailboxID = %x, vector mailbox %x", got, dep.Mailbox)
				}
				return
			}
		}
		t.Fatal("no deposit vector")
	}
	t.Fatal("no auth vector")
}

// TestChallengeMessageBindsBothPeers: moving a byte between the relay and owner peer ids
// changes the signed message (length prefixes), and the layout is as documented.
func TestChallengeMessageBindsBothPeers(t *testing.T) {
	c := bytes.Repeat([]byte{1}, ChallengeSize)
	a := ChallengeMessage(c, []byte("ab"), []byte("c"))
	b := ChallengeMessage(c, []byte("a"), []byte("bc"))
	if bytes.Equal(a, b) {
		t.Fatal("peer id boundary not bound")
	}
	want := hex.EncodeToString(c) + "02" + hex.EncodeToString([]byte("ab")) + "01" + hex.EncodeToString([]byte("c"))
	if hex.EncodeToString(a) != want {
		t.Errorf("ChallengeMessage = %x, want %s", a, want)
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	sig := id.Sign(identity.DomainMailbox, a)
	if id.Public().Verify(identity.DomainMailbox, b, sig) {
		t.Error("signature for one peer pair verifies for another")
	}
}
