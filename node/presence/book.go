package presence

import "github.com/libp2p/go-libp2p/core/peer"

// Contact is what presence knows of a contact: who it is, where its peer listens, and
// what decides whether presence is shared with it.
type Contact struct {
	ID     string
	UserID string
	// ConvID is the contact's direct conversation.
	ConvID string
	// Peer is the contact's peer id; "" when it does not parse.
	Peer  peer.ID
	Addrs []string
	// Accepted: the contact request is accepted. GroupOnly: known only as a fellow group
	// member, never added by the user.
	Accepted, GroupOnly, Blocked bool
}

// sharesPresence reports whether c shares presence with us (both ways): an accepted
// contact the user added, not blocked.
func (c Contact) sharesPresence() bool {
	return !c.GroupOnly && !c.Blocked && c.Accepted
}

// Peer is a peer a typing signal goes to, with the addresses to dial it at (none when it
// is not to be dialed).
type Peer struct {
	ID    peer.ID
	Addrs []string
}

// Book is what presence asks of the address book and the groups. The façade fills it in;
// every function reads the store on its own and may be called from any goroutine.
type Book struct {
	// Contact is contact cid; false when there is none.
	Contact func(cid string) (Contact, bool)
	// ContactAt is the contact whose peer is pid; false when there is none.
	ContactAt func(pid peer.ID) (Contact, bool)
	// Contacts are all the contacts.
	Contacts func() []Contact
	// InGroup reports whether we and user uid are both members of group gid.
	InGroup func(gid, uid string) bool
	// Recipients are the peers a typing signal in conversation conv goes to: the
	// contact's peer (with its addresses) in a direct conversation, unless blocked; the
	// other members' in a group. Its errors are API errors (node/api): not_found for an
	// unknown conversation, forbidden in a group we left.
	Recipients func(conv string) ([]Peer, error)
}

// mayType reports whether contact c may signal typing in conversation conv: their direct
// conversation, or a group both belong to.
func (l *Service) mayType(c Contact, conv string) bool {
	return conv == c.ConvID || l.book.InGroup(conv, c.UserID)
}
