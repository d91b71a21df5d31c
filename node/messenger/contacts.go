package messenger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/invite"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// MaxContactName bounds a contact's name, like the profile name.
const MaxContactName = 128

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
// (api.ErrConflict, 409) and changes nothing. A genuine identity change is believed only
// from the peer's own authenticated channel (see rxBatch.newcomer).
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
		n := strings.TrimSpace(*name)
		if !utf8.ValidString(n) || len(n) > MaxContactName {
			return api.Contact{}, false, api.Errorf(api.ErrBadRequest, "name must be valid UTF-8 of at most %d bytes", MaxContactName)
		}
		name = &n
	}
	var out api.Contact
	var created bool
	var cid string
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		created = false
		c, isNew, err := m.contactForLink(tx, inv)
		if err != nil {
			return err
		}
		created = isNew || c.GroupOnly
		c.GroupOnly = false // the user adds a fellow group member as a contact
		if inv.ID != nil && !c.Answered {
			c.Invite = hex.EncodeToString(inv.ID) // our first card names it (invites.go)
		}
		if isNew || !c.PeerProven || c.PeerID == inv.PeerID.String() {
			// The link's addresses are the identity's own (signed) word, but they do not
			// replace what the contact's proven peer told us itself.
			c.Addrs = addrStrings(inv.Addrs)
			c.Relays = addrStrings(inv.Relays)
		}
		if c.Request == api.RequestPending {
			c.Request = api.RequestAccepted // adding the link accepts their message request
		}
		oldName := c.Name
		switch {
		case name != nil && *name != "":
			c.Name, c.NameSet = *name, true
		case !c.NameSet && inv.Name != "":
			c.Name = inv.Name
		}
		if err := sessions.SaveContact(tx, c); err != nil {
			return err
		}
		if err := m.dev.SyncContact(tx, c); err != nil { // our other devices (sync.go)
			return err
		}
		out, cid = m.apiContact(c), c.ID
		if _, err := m.ev.Append(tx, api.KindContact, out); err != nil {
			return err
		}
		if isNew || c.Name != oldName {
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
	if err := m.ensureSession(sctx, cid); err != nil {
		m.log.Info("session not started yet", "contact", cid, "err", err)
	}
	return out, created, nil
}

// contactForLink returns the contact of an invite's identity, creating it when it does
// not exist. The peer id the link names is only the identity's claim: it never moves
// another contact's peer, and it never changes who a contact is. A link naming a peer id
// that a contact of another identity holds is a conflict.
func (m *Messenger) contactForLink(tx *store.Tx, inv *invite.Invite) (*sessions.Contact, bool, error) {
	uid, pid := string(inv.Identity.UserID()), inv.PeerID.String()
	owner, err := contacts.ByPeer(tx, pid)
	if err != nil {
		return nil, false, err
	}
	cid, err := contacts.ByUser(tx, uid)
	if err != nil {
		return nil, false, err
	}
	if cid == "" {
		if owner != "" {
			o, err := sessions.LoadContact(tx, owner)
			if err != nil {
				return nil, false, err
			}
			if o.GroupOnly && !o.PeerProven {
				// That peer id is only a group admin's word for a member (the admin signs
				// the card, the member does not): the identity's own signed link wins.
				if err := contacts.SetPeer(tx, &o.Record, "", false); err != nil {
					return nil, false, err
				}
				if err := sessions.SaveContact(tx, o); err != nil {
					return nil, false, err
				}
				c, err := m.newContact(tx, inv.Identity, pid, api.RequestAccepted)
				return c, true, err
			}
			return nil, false, api.Errorf(api.ErrConflict, "this link names the network peer of your contact %q but another identity key: "+
				"it may be forged. If %s has a new identity, it will show as a safety-number change when their node writes to you", o.Name, o.Name)
		}
		c, err := m.newContact(tx, inv.Identity, pid, api.RequestAccepted)
		return c, true, err
	}
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return nil, false, err
	}
	if known, err := identity.ParsePublic(c.Identity); err != nil || !known.Equal(inv.Identity) {
		return nil, false, api.Errorf(api.ErrConflict, "this link's identity key does not match your contact %q", c.Name)
	}
	if c.PeerID != pid && (owner == "" || owner == c.ID) && !c.PeerProven {
		// The identity's own signed word for a peer no one holds, replacing an unproven
		// claim (a contact known from mailbox mail only has no peer yet).
		if err := contacts.SetPeer(tx, &c.Record, pid, false); err != nil {
			return nil, false, err
		}
	}
	return c, false, nil
}

// contactFor returns the contact with identity pub, creating it (and its direct
// conversation) when it does not exist. It never changes an existing contact: not its
// identity, not its peer. peerID is a claim: a new contact gets it only if no contact
// holds it.
func (m *Messenger) contactFor(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error) {
	cid, err := contacts.ByUser(tx, string(pub.UserID()))
	if err != nil {
		return nil, false, err
	}
	if cid != "" {
		c, err := sessions.LoadContact(tx, cid)
		return c, false, err
	}
	if peerID != "" {
		if owner, err := contacts.ByPeer(tx, peerID); err != nil {
			return nil, false, err
		} else if owner != "" {
			peerID = ""
		}
	}
	c, err := m.newContact(tx, pub, peerID, request)
	return c, true, err
}

// newContact creates and saves the contact of identity pub (unknown until now) at peer
// peerID ("" for none; the caller made sure no contact holds it), with its direct
// conversation.
func (m *Messenger) newContact(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, error) {
	uid := string(pub.UserID())
	c := &sessions.Contact{Record: contacts.Record{
		ID: api.NewID("c"), UserID: uid, Identity: pub.Bytes(), PeerID: peerID,
		Request: request, Created: m.nowMS(), ConvID: directConvID(m.uid, uid),
	}}
	conv := &history.Conversation{ID: c.ConvID, Type: api.ConversationDirect, ContactID: c.ID, UpdatedAt: c.Created}
	if err := history.PutConversation(tx, conv); err != nil {
		return nil, err
	}
	if err := contacts.Create(tx, &c.Record); err != nil {
		return nil, err
	}
	return c, sessions.SaveChannel(tx, c.ID, &c.Channel)
}

// identityChanged records that contact c now presents identity pub: the contact becomes
// unverified and flagged, its sessions are dropped, and what was waiting in its outbox for
// the old identity fails with "identity changed" instead of being re-encrypted silently.
func (m *Messenger) identityChanged(tx *store.Tx, c *sessions.Contact, pub *identity.PublicIdentity) error {
	m.log.Warn("contact identity changed", "contact", c.ID, "old", c.UserID, "new", pub.UserID())
	if err := contacts.SetUser(tx, &c.Record, string(pub.UserID())); err != nil {
		return err
	}
	c.Identity = pub.Bytes()
	c.Changed, c.Verified = true, false
	// The name stays the one the user knew: the new key's cards must not rename the
	// contact, or the warning would name the newcomer instead of who it claims to be.
	if c.Name != "" {
		c.NameSet = true
	}
	c.Initial, c.Answered, c.Seen, c.RecvSeq, c.Ahead, c.SendSeq = nil, false, nil, 0, nil, 0
	for i := range 2 {
		if err := sessions.Delete(tx, c.ID, i); err != nil {
			return err
		}
	}
	var dead [][]byte
	var failed []string
	err := tx.Iterate(store.IterOptions{Prefix: outq.KeyPrefix(c.ID)}, func(k, v []byte) (bool, error) {
		dead = append(dead, k)
		var o outq.Entry
		if err := json.Unmarshal(v, &o); err == nil && o.MsgID != "" {
			failed = append(failed, o.MsgID)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	if _, err := tx.DeletePrefix(outq.SentPrefix(c.ID)); err != nil {
		return err
	}
	for _, id := range failed {
		if err := m.setStatus(tx, id, api.StatusFailed, "identity changed"); err != nil {
			return err
		}
	}
	if err := sessions.SaveContact(tx, c); err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindContact, m.apiContact(c))
	return err
}

// directConvID is the id of the direct conversation between two users: the same on both
// nodes.
func directConvID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte("petrel direct conversation\x00" + a + "\x00" + b))
	return "d" + hex.EncodeToString(sum[:13])
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// Contacts lists the contacts, by name.
func (m *Messenger) Contacts(ctx context.Context) ([]api.Contact, error) {
	out := []api.Contact{}
	err := m.st.View(func(tx *store.Tx) error {
		return contacts.List(tx, func(r *contacts.Record) (bool, error) {
			if !r.GroupOnly {
				out = append(out, m.apiContact(&sessions.Contact{Record: *r}))
			}
			return true, nil
		})
	})
	slices.SortFunc(out, func(a, b api.Contact) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
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

// UpdateContact renames, verifies, blocks or accepts a contact.
func (m *Messenger) UpdateContact(ctx context.Context, id string, p api.ContactPatch) (api.Contact, error) {
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if !utf8.ValidString(n) || len(n) > MaxContactName {
			return api.Contact{}, api.Errorf(api.ErrBadRequest, "name must be valid UTF-8 of at most %d bytes", MaxContactName)
		}
		p.Name = &n
	}
	var out api.Contact
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		if p.Name != nil {
			c.Name, c.NameSet = *p.Name, *p.Name != ""
		}
		if p.Verified != nil {
			c.Verified = *p.Verified
			if c.Verified {
				c.Changed = false // the user compared the new safety number
			}
		}
		if p.Blocked != nil {
			c.Blocked = *p.Blocked
		}
		if p.Accept != nil && *p.Accept {
			c.Request = api.RequestAccepted
		}
		if err := sessions.SaveContact(tx, c); err != nil {
			return err
		}
		if err := m.dev.SyncContact(tx, c); err != nil { // our other devices (sync.go)
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

// fetchBundle asks the contact's node for a prekey bundle, and when it cannot be reached,
// the prekey directories of the contact's home relays.
//
// Neither the peer nor a relay vouches for anything: a bundle of another identity than the
// contact's is refused, never taken for the contact's identity change (which only the
// contact's peer proves, by a message that decrypts: rxBatch.newcomer).
//
// direct says the contact's own peer served it (see sessions.PeerServed).
func (m *Messenger) fetchBundle(ctx context.Context, c *sessions.Contact) (b []byte, direct bool, err error) {
	pub, err := identity.ParsePublic(c.Identity)
	if err != nil {
		return nil, false, err
	}
	b, err = m.fetchBundleDirect(ctx, c)
	if err == nil {
		if pb, perr := prekey.ParseBundle(b); perr != nil {
			err = perr
		} else if !pb.Identity().Equal(pub) {
			err = errors.New("the contact's peer served a prekey bundle of another identity")
		}
	}
	if err == nil {
		return b, true, nil
	}
	if m.cfg.RelayLink == nil || len(c.Relays) == 0 || ctx.Err() != nil {
		return nil, false, err
	}
	for _, r := range c.Relays {
		b, rerr := m.cfg.RelayLink.Bundle(ctx, r, pub)
		if rerr == nil {
			if pb, perr := prekey.ParseBundle(b); perr != nil {
				rerr = perr
			} else if !pb.Identity().Equal(pub) {
				rerr = errors.New("bundle of another identity")
			} else {
				return b, false, nil
			}
		}
		err = fmt.Errorf("%w; relay %s: %w", err, r, rerr)
	}
	return nil, false, err
}

// fetchBundleDirect asks the contact's node for a prekey bundle.
func (m *Messenger) fetchBundleDirect(ctx context.Context, c *sessions.Contact) ([]byte, error) {
	h := m.hostOrNil()
	if h == nil {
		return nil, errors.New("messenger: not running")
	}
	pid, err := peerOf(c)
	if err != nil {
		return nil, fmt.Errorf("contact peer id: %w", err)
	}
	m.addAddrs(pid, c.Addrs)
	if err := ensureDirect(ctx, h, pid); err != nil {
		return nil, fmt.Errorf("prekeys: %w", err)
	}
	s, err := h.NewStream(ctx, pid, wire.PrekeyProtocol)
	if err != nil {
		return nil, fmt.Errorf("prekeys: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	return sessions.RequestBundle(s)
}

// errCircuitOnly says a peer is reachable only through relay circuits, which carry live
// signals and hole punching but not mail: mail goes to the peer's mailbox instead.
var errCircuitOnly = errors.New("reachable only through a relay circuit, which does not carry mail")

// ensureDirect makes sure a stream to pid can go over a direct (not relayed) connection,
// or says it cannot: with none open and only circuit addresses known, opening a stream
// would just wait for a hole punch that mail should not depend on (errCircuitOnly). When
// only a relayed connection is open (the peer reached us through its relay, say) and a
// direct address is known, it dials that address rather than let libp2p wait on the relayed
// connection for a hole punch or a reversal that may never come.
func ensureDirect(ctx context.Context, h host.Host, pid peer.ID) error {
	conns := h.Network().ConnsToPeer(pid)
	for _, c := range conns {
		if !c.Stat().Limited {
			return nil
		}
	}
	direct := false
	for _, a := range h.Peerstore().Addrs(pid) {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			direct = true
			break
		}
	}
	if !direct {
		return errCircuitOnly
	}
	if len(conns) == 0 {
		return nil // NewStream dials, direct addresses first
	}
	if err := h.Connect(network.WithForceDirectDial(ctx, "mail"), peer.AddrInfo{ID: pid}); err != nil {
		return fmt.Errorf("direct connection beside a relayed one: %w", err)
	}
	return nil
}

// addAddrs tells the peerstore where a contact listens.
func (m *Messenger) addAddrs(pid peer.ID, addrs []string) {
	h := m.hostOrNil()
	if h == nil {
		return
	}
	var as []ma.Multiaddr
	for _, a := range addrs {
		if x, err := ma.NewMultiaddr(a); err == nil {
			as = append(as, x)
		}
	}
	h.Peerstore().AddAddrs(pid, as, peerstore.PermanentAddrTTL)
}
