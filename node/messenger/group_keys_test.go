package messenger

import (
	"testing"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// The group records these tests read, spelled out as they are on disk (docs/PROTOCOL.md):
// node/groups owns them, and a test that reads them through their bytes also pins them.
func kGroup(gid string) []byte             { return []byte("gr/" + gid) }
func kGroupLog(gid string) []byte          { return []byte("gl/" + gid) }
func kGroupBucketPrefix(gid string) []byte { return []byte("gn/" + gid + "/") }
func kGroupOpPrefix(gid string) []byte     { return []byte("go/" + gid + "/") }
func kGroupSender(gid string) []byte       { return []byte("gk/" + gid) }
func kGroupRecv(gid, uid string) []byte    { return []byte("gx/" + gid + "/" + uid) }
func kGroupRx(gid, uid string) []byte      { return []byte("gq/" + gid + "/" + uid) }
func kGroupSentPrefix(gid string) []byte   { return []byte("gh/" + gid + "/") }

// groupLayout is the layout node/groups writes (gr/ header, gn/ buckets, go/ operations).
const groupLayout = 1

// memberRx is a gq/ record: what we track of one member's group messages.
type memberRx struct {
	RecvSeq uint64        `json:"recv_seq"`
	Ahead   []uint64      `json:"ahead"`
	Dists   []distInfo    `json:"dists"`
	Owed    *wire.Content `json:"owed,omitempty"`
}

type distInfo struct {
	ID    string `json:"id"`
	Pub   []byte `json:"pub"`
	Bound bool   `json:"bound,omitempty"`
}

// loadSender reads our sending chain in a group (gk/).
func loadSender(tx *store.Tx, gid string) (*senderkey.SenderState, error) {
	b, err := tx.Get(kGroupSender(gid))
	if err != nil {
		return nil, err
	}
	return senderkey.UnmarshalSender(b)
}

// settleFanout serves what members are owed (as the group service does after a change)
// until what is left waits for the members.
func (m *Messenger) settleFanout(tb testing.TB) {
	tb.Helper()
	for {
		more, err := m.groups.DrainFanout(tb.Context())
		if err != nil {
			tb.Fatal(err)
		}
		if !more {
			return
		}
	}
}
