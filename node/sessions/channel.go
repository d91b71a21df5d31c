package sessions

import (
	"fmt"

	"github.com/petrel-chat/petrel/node/store"
)

// ChannelVersion is the version of the Channel record this code writes.
const ChannelVersion = 1

// Channel is the pairwise delivery state of one contact, apart from the address book: the
// content sequence numbers both ways and the PQXDH handshake bytes. Stored at
// ChannelKey(contact id).
type Channel struct {
	V        int      `json:"v"`
	SendSeq  uint64   `json:"send_seq"`  // last content seq assigned
	OutSeq   uint64   `json:"out_seq"`   // last outbox key used
	RecvSeq  uint64   `json:"recv_seq"`  // highest contiguous content seq received
	Ahead    []uint64 `json:"ahead"`     // seqs received beyond a gap
	Initial  []byte   `json:"initial"`   // our PQXDH initial message, until they answer
	Answered bool     `json:"answered"`  // we have received content from them
	Seen     []byte   `json:"seen_init"` // hash of the last initial message we responded to
}

// ChannelKey is the store key of contact cid's Channel.
func ChannelKey(cid string) []byte { return []byte("sc/" + cid) }

// LoadChannel reads contact cid's Channel; a contact that has none yet (nothing sent or
// received) has the zero one.
func LoadChannel(tx *store.Tx, cid string) (Channel, error) {
	var ch Channel
	ok, err := store.GetJSON(tx, ChannelKey(cid), &ch)
	if err != nil {
		return Channel{}, err
	}
	if !ok {
		return Channel{V: ChannelVersion}, nil
	}
	if ch.V != ChannelVersion {
		return Channel{}, fmt.Errorf("sessions: channel record of %s has version %d, not %d", cid, ch.V, ChannelVersion)
	}
	return ch, nil
}

// SaveChannel writes contact cid's Channel (at ChannelVersion).
func SaveChannel(tx *store.Tx, cid string, ch *Channel) error {
	ch.V = ChannelVersion
	return store.PutJSON(tx, ChannelKey(cid), ch)
}

// DeleteChannel removes contact cid's Channel.
func DeleteChannel(tx *store.Tx, cid string) error { return tx.Delete(ChannelKey(cid)) }
