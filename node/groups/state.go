package groups

import (
	"fmt"
	"github.com/petrel-chat/petrel/node/receipts"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Group is a group as stored (node/groups/grouplog).
type Group = grouplog.Group

// Load loads group gid's state (not its log: see LoadWithOps), or an api not_found error.
func Load(tx *store.Tx, gid string) (*Group, error) { return grouplog.Load(tx, gid) }

// LoadWithOps loads group gid's state and its signed operation log.
func LoadWithOps(tx *store.Tx, gid string) (*Group, error) { return grouplog.LoadWithOps(tx, gid) }

// Changes lists the changes that made group convID what it is, oldest first
// (grouplog.Changes; docs/API.md, extension GET /v1/conversations/{id}/changes).
func Changes(tx *store.Tx, convID string) ([]api.GroupChange, error) {
	return grouplog.Changes(tx, convID)
}

// memberRx is what we track of one member's group messages.
type memberRx struct {
	RecvSeq uint64     `json:"recv_seq"` // highest contiguous group seq received
	Ahead   []uint64   `json:"ahead"`
	Dists   []distInfo `json:"dists"` // chains we hold for them, newest first (≤ 2)
	// Owed: our chain as it was when we owed it to them (a gkey content), waiting for
	// them to start the pairwise session (see sendKey). Sending it later, from the
	// iteration it was owed at, lets them read what we sent meanwhile.
	Owed *wire.Content `json:"owed,omitempty"`
	// User is the member whose device this record is of, when it is not their primary
	// (records are per device: gq/<group>/<device key's user id>).
	User string `json:"user,omitempty"`
}

// user is the member whose device dev this record is of.
func (rx *memberRx) user(dev string) string {
	if rx.User != "" {
		return rx.User
	}
	return dev
}

type distInfo struct {
	ID    string `json:"id"`              // hex distribution id
	Pub   []byte `json:"pub"`             // Ed25519 signing key
	Bound bool   `json:"bound,omitempty"` // the id is bound to its owner (senderkey.NewSenderBound)
}

func kGroupSender(gid string) []byte         { return []byte("gk/" + gid) }
func kGroupRecv(gid, dev string) []byte      { return []byte("gx/" + gid + "/" + dev) }
func kGroupRx(gid, dev string) []byte        { return []byte("gq/" + gid + "/" + dev) }
func kGroupRxPrefix(gid string) []byte       { return []byte("gq/" + gid + "/") }
func kGroupStash(gid, uid string) []byte     { return []byte("gw/" + gid + "/" + uid) }
func kGroupReceipt(msgID, uid string) []byte { return receipts.Key(msgID, uid) }
func kGroupSentPrefix(gid string) []byte     { return []byte("gh/" + gid + "/") }
func kGroupSent(gid string, seq uint64) []byte {
	return fmt.Appendf(kGroupSentPrefix(gid), "%016x", seq)
}
