package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/mailintake"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/reach"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// RelayLink is how the messenger reaches relays it does not own: a contact's home relays,
// where it deposits sealed mail when the contact's node cannot be reached (outq.Mailbox),
// deposits a group message's shared body for several members (groups.RelayLink) and fetches
// prekey bundles when the contact is offline (reach.Relays). The node implements it with
// the relay client (relay/...); relays are full multiaddrs with /p2p/.
type RelayLink interface {
	outq.Mailbox
	groups.RelayLink
	reach.Relays
}

// RelayPrekeyBatch is the most one-time prekeys of each kind one relay is given at a time.
// Every relay gets its own keys, so no key is handed out twice.
const RelayPrekeyBatch = 25

// RelayPrekeys are the public prekeys a home relay's directory serves (sessions.RelayPrekeys).
type RelayPrekeys = sessions.RelayPrekeys

// PrekeysForRelay sets aside up to want one-time prekeys of each kind for a relay's
// directory (marked issued, so the node never hands them out itself) and returns them with
// the current signed and last-resort keys (sessions.ForRelay). It rotates and refills the
// store as needed.
func (m *Messenger) PrekeysForRelay(ctx context.Context, want int) (RelayPrekeys, error) {
	want = min(want, RelayPrekeyBatch)
	var out RelayPrekeys
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = sessions.ForRelay(tx, m.id, m.now(), want)
		return err
	})
	return out, err
}

// CurrentPrekeyIDs returns, without writing, the ids of the signed and last-resort prekeys a
// relay's directory should hold, and whether they are due to rotate (then PrekeysForRelay
// rotates them). A home relay's periodic check uses it to upload only on a change.
func (m *Messenger) CurrentPrekeyIDs() (ids [2]uint32, rotate bool, err error) {
	err = m.st.View(func(tx *store.Tx) error {
		ids, rotate, err = sessions.CurrentIDs(tx, m.id, m.now())
		return err
	})
	return ids, rotate, err
}

// ReceiveSealed processes mail drained from the node's own mailbox (mailintake.Receive):
// sealed envelopes, in the order the relay kept them. It returns once what they carried is
// durable; the caller then acknowledges them to the relay. A shared envelope (a multi
// deposit) carries a group envelope, which takes the group receive path.
func (m *Messenger) ReceiveSealed(ctx context.Context, envelopes [][]byte) error {
	return mailintake.Receive(ctx, mailintake.Config{Store: m.st, Identity: m.id, Rx: m.rx, Groups: m.groups, Log: m.log,
		GroupBatch: func(tx *store.Tx) (func(string) (*sessions.Contact, error), groups.Pairwise) {
			cc := txContacts{}
			return func(uid string) (*sessions.Contact, error) { return cc.ByUser(tx, uid) }, m.groupPairwise(tx, cc)
		}}, envelopes)
}
