package acquaint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/safetynum"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/invite"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// MaxContactName bounds a contact's name, like the profile name.
const MaxContactName = 128

// Self is the account contacts are added to: its user id (the account's, the same on every
// linked device) and the time now, in Unix ms.
type Self struct {
	UserID string
	Now    int64
}

// CheckName trims a contact name and refuses one that is not UTF-8 or over MaxContactName
// bytes (a bad_request for the UI).
func CheckName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if !utf8.ValidString(n) || len(n) > MaxContactName {
		return "", api.Errorf(api.ErrBadRequest, "name must be valid UTF-8 of at most %d bytes", MaxContactName)
	}
	return n, nil
}

// Added is what adding an invite link did: the contact as saved, whether it is New (its
// identity was no contact), Created (new, or a fellow group member the user now adds) and
// whether its name changed.
type Added struct {
	Contact               *sessions.Contact
	New, Created, Renamed bool
}

// AddLink adds the person behind invite inv (checked: contacts.CheckLink) as a contact,
// named name when given (checked: CheckName), and saves it. Adding a link accepts the
// contact's message request. The link's addresses are the identity's own signed word, but
// they do not replace what the contact's proven peer told us itself.
func AddLink(tx *store.Tx, me Self, inv *invite.Invite, name *string) (Added, error) {
	c, isNew, err := ForLink(tx, me, inv)
	if err != nil {
		return Added{}, err
	}
	out := Added{Contact: c, New: isNew, Created: isNew || c.GroupOnly}
	c.GroupOnly = false // the user adds a fellow group member as a contact
	if inv.ID != nil && !c.Answered {
		c.Invite = hex.EncodeToString(inv.ID) // our first card names it
	}
	if isNew || !c.PeerProven || c.PeerID == inv.PeerID.String() {
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
	out.Renamed = c.Name != oldName
	return out, sessions.SaveContact(tx, c)
}

// ForLink returns the contact of an invite's identity, creating it when it does not exist.
// The peer id the link names is only the identity's claim: it never moves another
// contact's peer, and it never changes who a contact is. A link naming a peer id that a
// contact of another identity holds is a conflict (api.ErrConflict), unless that peer is
// only a group admin's unproven word for a member: the identity's own signed link wins.
func ForLink(tx *store.Tx, me Self, inv *invite.Invite) (*sessions.Contact, bool, error) {
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
			if !o.GroupOnly || o.PeerProven {
				return nil, false, api.Errorf(api.ErrConflict, "this link names the network peer of your contact %q but another identity key: "+
					"it may be forged. If %s has a new identity, it will show as a safety-number change when their node writes to you", o.Name, o.Name)
			}
			// That peer id is only a group admin's word for a member (the admin signs the
			// card, the member does not).
			if err := contacts.SetPeer(tx, &o.Record, "", false); err != nil {
				return nil, false, err
			}
			if err := sessions.SaveContact(tx, o); err != nil {
				return nil, false, err
			}
		}
		c, err := NewContact(tx, me, inv.Identity, pid, api.RequestAccepted)
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

// ForIdentity returns the contact with identity pub, creating it (and its direct
// conversation) when it does not exist. It never changes an existing contact: not its
// identity, not its peer. peerID is a claim: a new contact gets it only if no contact
// holds it.
func ForIdentity(tx *store.Tx, me Self, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error) {
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
	c, err := NewContact(tx, me, pub, peerID, request)
	return c, true, err
}

// NewContact creates and saves the contact of identity pub (unknown until now) at peer
// peerID ("" for none; the caller made sure no contact holds it), with its direct
// conversation.
func NewContact(tx *store.Tx, me Self, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, error) {
	uid := string(pub.UserID())
	c := &sessions.Contact{Record: contacts.Record{
		ID: api.NewID("c"), UserID: uid, Identity: pub.Bytes(), PeerID: peerID,
		Request: request, Created: me.Now, ConvID: DirectConvID(me.UserID, uid),
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

// IdentityChanged records that contact c now presents identity pub, and saves it: the
// contact becomes unverified and flagged, its sessions are dropped, and what was waiting
// in its outbox for the old identity is dropped and fail is called with each message id
// it carried, to fail it with "identity changed" instead of re-encrypting it silently.
func IdentityChanged(tx *store.Tx, c *sessions.Contact, pub *identity.PublicIdentity, fail func(tx *store.Tx, msgID string) error) error {
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
		if err := fail(tx, id); err != nil {
			return err
		}
	}
	return sessions.SaveContact(tx, c)
}

// Patch applies what the user decided of contact c (p.Name checked by CheckName):
// rename, verify (which clears the identity-changed flag), block, accept. c is not saved.
func Patch(c *contacts.Record, p api.ContactPatch) {
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
}

// DirectConvID is the id of the direct conversation between two users: the same on both
// nodes.
func DirectConvID(a, b string) string {
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

// List is every contact the user added (not the group-only ones), each shown as show makes
// it, by name (case-insensitive), ties by id.
func List(tx *store.Tx, show func(c *sessions.Contact) api.Contact) ([]api.Contact, error) {
	out := []api.Contact{}
	err := contacts.List(tx, func(r *contacts.Record) (bool, error) {
		if !r.GroupOnly {
			out = append(out, show(&sessions.Contact{Record: *r}))
		}
		return true, nil
	})
	slices.SortFunc(out, func(a, b api.Contact) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// SafetyNumber is the safety number between our account (key acct, user id uid: the same
// on every device, unchanged by devices) and contact c's account; "" when a key does not
// parse.
func SafetyNumber(acct *identity.PublicIdentity, uid string, c *sessions.Contact) string {
	pub, err := identity.ParsePublic(c.AccountKey())
	if err != nil {
		return ""
	}
	n, err := safetynum.New([]byte(uid), acct.SigningKey(), []byte(pub.UserID()), pub.SigningKey())
	if err != nil {
		return ""
	}
	return n.String()
}
