package messenger

import (
	"io"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// The prekey protocol's responder lives in node/sessions (PrekeyServer); these keep the
// messenger's callers as they were.

// requestBundle runs the requester's side of the prekey protocol on s.
func requestBundle(s io.ReadWriter) ([]byte, error) { return sessions.RequestBundle(s) }

// prekeyContact reports whether pid is the peer of an accepted contact who is not
// blocked (sessions.PrekeyServer.IsContact).
func prekeyContact(tx *store.Tx, pid peer.ID) (bool, error) {
	cid, err := getString(tx, kContactByPeer(pid.String()))
	if err != nil || cid == "" {
		return false, err
	}
	c, err := loadContact(tx, cid)
	if err != nil {
		return false, err
	}
	return !c.Blocked && c.Request == api.RequestAccepted, nil
}
