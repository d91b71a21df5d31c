package messenger

// Shims for the code of this package that still calls the group engine by its old names
// (node/groups since the split); the lead removes them in a later pass.

import (
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// GroupOptions tune groups (groups.Options).
type GroupOptions = groups.Options

// SharedRecipient is one mailbox of a multi deposit and the header sealed for it.
type SharedRecipient = groups.SharedRecipient

// Group deposit bounds and errors (node/groups).
const (
	DefaultMaxGroupSize = groups.DefaultMaxSize
	MaxSharedRecipients = groups.MaxSharedRecipients
	MaxGroupDepositAge  = groups.MaxGroupDepositAge
)

var (
	ErrMultiUnsupported = groups.ErrMultiUnsupported
	ErrRelayBusy        = groups.ErrRelayBusy
)

// groupService is what relays.go asks of the GossipSub side.
type groupService struct{ s *groups.Service }

type ownerState int

const (
	ownerFound ownerState = iota
	ownerNone
)

type distOwner struct {
	uid   string
	bound bool
}

func (g *groupService) owner(gid string, sm *senderkey.Message) (distOwner, ownerState) {
	o, ok := g.s.Owner(gid, sm)
	if !ok {
		return distOwner{}, ownerNone
	}
	return distOwner{uid: o.UserID, bound: o.Bound}, ownerFound
}

func (g *groupService) hold(gid string, env []byte, recheck bool) { g.s.Hold(gid, env, recheck) }

const (
	rxUnknown  = groups.Unknown
	rxUnlisted = groups.Unlisted
)

// groupRx receives group envelopes within one transaction (groups.Rx).
type groupRx struct {
	m  *Messenger
	tx *store.Tx
	cc txContacts
	rx *groups.Rx
}

func (b *groupRx) envelope(gid string, env []byte) (groups.Outcome, error) {
	if b.rx == nil {
		b.rx = b.m.groups.NewRx(b.tx, b.m.groupPairwise(b.tx, b.cc))
	}
	return b.rx.Envelope(gid, env)
}

func (b *groupRx) finish() error {
	if b.rx == nil {
		return nil
	}
	return b.rx.Finish()
}

// groupView is a group's state as presence.go reads it.
type groupView struct{ *groups.Group }

func (g groupView) member(uid string) *wire.GroupMember { return g.Member(uid) }

func loadGroup(tx *store.Tx, gid string) (groupView, error) {
	g, err := groups.Load(tx, gid)
	return groupView{g}, err
}

// groupOnly reports whether contact cid is a group-only contact.
func groupOnly(tx *store.Tx, cid string) bool {
	c, err := loadContact(tx, cid)
	return err == nil && c.GroupOnly
}

// applyGroup applies a group content from contact c (inbound.go).
func (m *Messenger) applyGroup(tx *store.Tx, c *contactRec, ct *wire.Content) error {
	return m.groups.Apply(tx, m.groupPairwise(tx, txContacts{c.ID: c}), c.UserID, ct)
}

// trimKey (records.go) lost its last caller when the group fan-out moved to node/groups.
var _ = trimKey
