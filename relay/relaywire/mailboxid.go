package relaywire

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// mailboxIDDomain prefixes the hash that names a user's mailbox.
const mailboxIDDomain = "petrel_v1_mailbox_id\x00"

// MailboxID returns the mailbox id of a user: the first 16 bytes of
// SHA-256("petrel_v1_mailbox_id\x00" ‖ public identity (129 bytes)).
func MailboxID(p *identity.PublicIdentity) []byte {
	h := sha256.New()
	h.Write([]byte(mailboxIDDomain))
	h.Write(p.Bytes())
	return h.Sum(nil)[:MailboxIDSize]
}

// ChallengeMessage returns the bytes an owner signs (under identity.DomainMailbox) to answer
// a relay's challenge:
//
//	challenge (32) ‖ uvarint len(relay) ‖ relay peer id ‖ uvarint len(owner) ‖ owner peer id
//
// Peer ids are their binary multihash form. Binding both peer ids means a signature works
// only on a connection between this owner peer and this relay.
func ChallengeMessage(challenge, relayPeer, ownerPeer []byte) []byte {
	out := make([]byte, 0, len(challenge)+20+len(relayPeer)+len(ownerPeer))
	out = append(out, challenge...)
	out = binary.AppendUvarint(out, uint64(len(relayPeer)))
	out = append(out, relayPeer...)
	out = binary.AppendUvarint(out, uint64(len(ownerPeer)))
	return append(out, ownerPeer...)
}
