package messenger

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/acquaint"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/reach"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// Who becomes a contact and how is node/acquaint; reaching a contact's node and fetching
// its prekeys is node/reach. This file is the façade's transaction around them.

// MaxContactName bounds a contact's name, like the profile name.
const MaxContactName = acquaint.MaxContactName

// CreateInvite returns a fresh invite link for this node and its QR code, valid for
// contacts.DefaultInviteTTL (invites.go).
func (m *Messenger) CreateInvite(ctx context.Context) (api.Invite, error) {
	return m.CreateInviteFor(ctx, 0)
}

// AddContact adds the person behind an invite link. created is false when the link's
// identity was already a contact (the same contact is returned).
//
// A link proves its identity key (it signs the link), not the peer id it names: a link of
// another identity than the contact who holds that peer id is refused with a conflict
// (api.ErrConflict, 409) and changes nothing (acquaint.ForLink). A genuine identity
// change is believed only from the peer's own authenticated channel (node/inbox).
func (m *Messenger) AddContact(ctx context.Context, link string, name *string) (api.Contact, bool, error) {
	inv, err := invite.Parse(link)
	if err != nil {
		return api.Contact{}, false, api.Errorf(api.ErrBadRequest, "not a valid petrel invite link (%v)", err)
	}
	if inv.Identity.Equal(m.acct) || inv.Identity.Equal(m.id.Public()) {
		return api.Contact{}, false, api.Errorf(api.ErrBadRequest, "that is your own invite link")
	}
	if err := contacts.CheckLink(inv, m.now()); err != nil {
		return api.Contact{}, false, err
	}
	if name != nil {
		n, err := acquaint.CheckName(*name)
		if err != nil {
			return api.Contact{}, false, err
		}
		name = &n
	}
	var out api.Contact
	var added acquaint.Added
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if added, err = acquaint.AddLink(tx, m.self(), inv, name); err != nil {
			return err
		}
		c := added.Contact
		if err := m.dev.SyncContact(tx, c); err != nil { // our other devices (node/devicesync)
			return err
		}
		out = m.apiContact(c)
		if _, err := m.ev.Append(tx, api.KindContact, out); err != nil {
			return err
		}
		if added.New || added.Renamed {
			// The direct conversation bears the contact's name: UIs hear of it at once.
			return m.emitConv(tx, c.ConvID)
		}
		return nil
	})
	if err != nil {
		return api.Contact{}, false, err
	}
	if h := m.hostOrNil(); h != nil {
		h.Peerstore().AddAddrs(inv.PeerID, inv.Addrs, peerstore.PermanentAddrTTL)
	}
	// Start the session now if the contact is reachable; the outbox worker retries later.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.ensureSession(sctx, added.Contact.ID); err != nil {
		m.log.Info("session not started yet", "contact", added.Contact.ID, "err", err)
	}
	return out, added.Created, nil
}

// self is the account contacts are added to, now (acquaint.Self).
func (m *Messenger) self() acquaint.Self { return acquaint.Self{UserID: m.uid, Now: m.nowMS()} }

// contactFor returns the contact with identity pub, creating it when it does not exist
// (acquaint.ForIdentity).
func (m *Messenger) contactFor(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error) {
	return acquaint.ForIdentity(tx, m.self(), pub, peerID, request)
}

// newContact creates the contact of identity pub (acquaint.NewContact).
func (m *Messenger) newContact(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, error) {
	return acquaint.NewContact(tx, m.self(), pub, peerID, request)
}

// identityChanged records that contact c now presents identity pub
// (acquaint.IdentityChanged): what was waiting in its outbox fails with "identity changed".
func (m *Messenger) identityChanged(tx *store.Tx, c *sessions.Contact, pub *identity.PublicIdentity) error {
	m.log.Warn("contact identity changed", "contact", c.ID, "old", c.UserID, "new", pub.UserID())
	err := acquaint.IdentityChanged(tx, c, pub, func(tx *store.Tx, id string) error {
		return m.setStatus(tx, id, api.StatusFailed, "identity changed")
	})
	if err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindContact, m.apiContact(c))
	return err
}

// Contacts lists the contacts, by name (acquaint.List).
func (m *Messenger) Contacts(ctx context.Context) (out []api.Contact, err error) {
	err = m.st.View(func(tx *store.Tx) error {
		out, err = acquaint.List(tx, m.apiContact)
		return err
	})
	return out, err
}

// Contact returns one contact.
func (m *Messenger) Contact(ctx context.Context, id string) (api.Contact, error) {
	var out api.Contact
	err := m.st.View(func(tx *store.Tx) error {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		out = m.apiContact(c)
		return nil
	})
	return out, err
}

// UpdateContact renames, verifies, blocks or accepts a contact (acquaint.Patch).
func (m *Messenger) UpdateContact(ctx context.Context, id string, p api.ContactPatch) (api.Contact, error) {
	if p.Name != nil {
		n, err := acquaint.CheckName(*p.Name)
		if err != nil {
			return api.Contact{}, err
		}
		p.Name = &n
	}
	var out api.Contact
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		acquaint.Patch(&c.Record, p)
		if err := sessions.SaveContact(tx, c); err != nil {
			return err
		}
		if err := m.dev.SyncContact(tx, c); err != nil { // our other devices (node/devicesync)
			return err
		}
		out = m.apiContact(c)
		if _, err := m.ev.Append(tx, api.KindContact, out); err != nil {
			return err
		}
		return m.emitConv(tx, c.ConvID)
	})
	return out, err
}

// dialer reaches contacts' nodes over the running host and their relays (node/reach).
func (m *Messenger) dialer() reach.Dialer {
	return reach.Dialer{Host: m.hostOrNil, Relays: m.cfg.RelayLink}
}

// addAddrs tells the peerstore where a contact listens (reach.Dialer.AddAddrs).
func (m *Messenger) addAddrs(pid peer.ID, addrs []string) { m.dialer().AddAddrs(pid, addrs) }

// fetchBundle fetches contact c's prekey bundle (reach.Dialer.Bundle).
func (m *Messenger) fetchBundle(ctx context.Context, c *sessions.Contact) ([]byte, bool, error) {
	return m.dialer().Bundle(ctx, c)
}
