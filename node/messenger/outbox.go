package messenger

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// The durable outbox and its delivery workers are node/outbox; this file is what it is
// given of the messenger (messenger.go's Run fills in its Config).

// outboxContacts is the address book as node/outbox reads it.
type outboxContacts = outq.StoredContacts

// outboxContact is contact c as node/outbox reads it (outq.ContactOf).
func outboxContact(c *sessions.Contact) outq.Contact { return outq.ContactOf(c) }

// dialMessages opens a message stream to contact cid's node, over a direct connection.
func (m *Messenger) dialMessages(ctx context.Context, cid string) (outq.Stream, error) {
	var c *sessions.Contact
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		c, err = sessions.LoadContact(tx, cid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.dialer().Open(ctx, c, wire.MessageProtocol, "open stream")
}

// outboxConnected wakes the delivery worker of the contact whose node pid just connected,
// skipping its backoff.
func (m *Messenger) outboxConnected(pid peer.ID) {
	var cid string
	_ = m.st.View(func(tx *store.Tx) error {
		var err error
		cid, err = store.GetString(tx, contacts.KeyByPeer(pid.String()))
		if err == nil && cid == "" {
			cid, err = devices.ChannelByPeer(tx, pid.String()) // a listed device (node/devices)
		}
		return err
	})
	if cid != "" {
		m.ob.Wake(cid)
	}
}

// kick makes sure a worker delivers contact cid's outbox (once Run started the workers).
func (m *Messenger) kick(cid string) {
	m.mu.Lock()
	q := m.ob
	m.mu.Unlock()
	if q != nil {
		q.Kick(cid)
	}
}
