package groups

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/chains"
	"github.com/petrel-chat/petrel/node/groups/groupmail"
	"github.com/petrel-chat/petrel/node/groups/members"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Contact is what groups reads of a contact; Device one active device of a member
// (node/groups/members).
type (
	Contact = members.Contact
	Device  = members.Device
)

// Pairwise is the pairwise messaging of one transaction, as groups needs it: contact
// lookups and sends that share one copy of each contact record for the whole
// transaction (the caller's, which may hold some already).
type Pairwise interface {
	// Contact returns the contact of user uid, or nil when there is none.
	Contact(uid string) (*Contact, error)
	// Send queues content for every active device of user uid (our own other devices for
	// our own user id), over our pairwise session with each; it does nothing for a user
	// who is no contact or is blocked. SendTo queues it for their device dev alone (the
	// user id of its key: uid itself for their primary).
	Send(uid string, content *wire.Content) error
	SendTo(uid, dev string, content *wire.Content) error
	// Devices returns the active devices of user uid's verified list (ours, this one
	// included, for our own user id).
	Devices(uid string) ([]Device, error)
	// AddMember makes sure a group member is a contact, so that a pairwise session can
	// carry keys and receipts: a member we have no contact for becomes a group-only one.
	AddMember(mb *wire.GroupMember) error
	// OutboxEmpty reports whether nothing waits in user uid's pairwise outbox (true when
	// they are no contact).
	OutboxEmpty(uid string) (bool, error)
}

// History is what groups needs of the message history, within the caller's transaction.
type History struct {
	// SaveReceived stores a member's new group message, reports it (an event) and counts
	// it in its conversation (last message, unread); false when it is already stored.
	SaveReceived func(tx *store.Tx, msg api.Message) (bool, error)
	// ApplyControl applies member uid's edit, delete or reaction (ct) to a message of
	// group gid; ts is ct's timestamp.
	ApplyControl func(tx *store.Tx, gid, uid string, ct *wire.Content, ts hlc.Timestamp) error
	// UpdateMessage loads message id (an api.ErrNotFound error when there is none), runs
	// change on it and, when change reports a change, saves it and reports it.
	UpdateMessage func(tx *store.Tx, id string, change func(*api.Message) (bool, error)) error
	// OpenConversation makes sure group gid has its conversation and reports it.
	OpenConversation func(tx *store.Tx, gid string) error
	// EmitConversation reports conversation id as it is now.
	EmitConversation func(tx *store.Tx, id string) error
	// Disappear, when set, applies the timer (s, 0 off) a new state of gid's log sets.
	Disappear func(tx *store.Tx, gid, uid string, secs int64, ts hlc.Timestamp) error
	// Attachments, when set, records the attachments of member uid's new message msgID of
	// group gid (wire.Content.Attachments) and returns them for the Message.
	Attachments func(tx *store.Tx, gid, msgID, uid string, raws []json.RawMessage) []api.Attachment
	// SealSent and OpenSent, when set, seal our envelope of content ct for the resend
	// history at key (gh/) at rest, and open it (false: gone): a disappearing content's.
	SealSent func(tx *store.Tx, key []byte, ct *wire.Content, env []byte) ([]byte, error)
	OpenSent func(key, v []byte) ([]byte, bool)
}

// Group mail through relays is node/groups/groupmail; these names stay here for callers.
type (
	// RelayLink is what group deposits need of the relays (the messenger's RelayLink).
	RelayLink = groupmail.RelayLink
	// SharedRecipient is one mailbox of a multi deposit and the header sealed for it.
	SharedRecipient = groupmail.SharedRecipient
)

// Errors a RelayLink returns for shared deposits (groupmail.ErrMultiUnsupported,
// groupmail.ErrRelayBusy).
var (
	ErrMultiUnsupported = groupmail.ErrMultiUnsupported
	ErrRelayBusy        = groupmail.ErrRelayBusy
)

// Bounds of group deposits (groupmail).
const (
	MaxSharedRecipients = groupmail.MaxSharedRecipients
	MaxGroupDepositAge  = groupmail.MaxGroupDepositAge
)

// mailPairwise is a Pairwise as group deposits see it.
type mailPairwise struct{ Pairwise }

func (p mailPairwise) Member(uid string) (*groupmail.Member, error) {
	c, err := p.Contact(uid)
	if err != nil || c == nil {
		return nil, err
	}
	return &groupmail.Member{Identity: c.Identity, Relays: c.Relays, Blocked: c.Blocked}, nil
}

// Config configures a Service.
type Config struct {
	Store *store.Store
	// Identity is this device's key (the account key on the primary): it signs our gkeys,
	// and its user id names our chain (wire.GroupKeyOwner). Account is the account's key,
	// whose user id is ours in every group; nil means Identity's (a single-device account).
	Identity *identity.Identity
	Account  *identity.PublicIdentity
	Logger   *slog.Logger
	// Clock stamps operations and messages; SaveClock persists a timestamp it issued in tx.
	Clock     *hlc.Clock
	SaveClock func(tx *store.Tx, ts string) error
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Profile is the user's display name; Card our current card (peer id, addresses,
	// relays), for our own entry in a group's members.
	Profile func() string
	Card    func() *wire.Card
	// RelayLink reaches members' relays for group mail; nil means pairwise copies only.
	RelayLink RelayLink
	// Pairwise opens the pairwise side of tx for the service's own transactions.
	Pairwise func(tx *store.Tx) Pairwise
	History  History
	Options  Options
}

// Service is the group engine of a node: the signed state, Sender Keys, the GossipSub
// side (topics, validators, the receiving loop, publishing and the delivery fallback),
// fan-out and group mail. Its state in memory is an index rebuilt from the store at start.
type Service struct {
	cfg  Config
	st   *store.Store
	id   *identity.Identity
	uid  string // the account's user id
	dev  string // this device's key's user id: uid on the primary
	log  *slog.Logger
	opts Options
	hist History
	dep  *groupmail.Depositor

	mu       sync.Mutex
	ctx      context.Context
	ps       *pubsub.PubSub
	self     peer.ID
	topics   map[string]*joinedTopic // group id → topic
	chains   *chains.Index           // chain id → the member devices who gave it
	pending  map[string][][]byte
	syncAt   map[string]time.Time
	pubQ     []pubItem
	rxQ      []rxItem
	due      []fallbackItem
	wake     chan struct{}
	fanDue   bool      // members may be owed something (fanout.go)
	fanGen   uint64    // fanKick calls
	fanNext  time.Time // when to look again at what waits for members
	fanWait  time.Duration
	wg       sync.WaitGroup
	groupCtl []*Group
}

// New prepares a Service; Start runs it.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil || cfg.Identity == nil || cfg.Clock == nil || cfg.SaveClock == nil || cfg.Pairwise == nil:
		return nil, errors.New("groups: Store, Identity, Clock, SaveClock and Pairwise are required")
	case cfg.History.SaveReceived == nil || cfg.History.ApplyControl == nil || cfg.History.UpdateMessage == nil ||
		cfg.History.OpenConversation == nil || cfg.History.EmitConversation == nil:
		return nil, errors.New("groups: every History function is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Profile == nil {
		cfg.Profile = func() string { return "" }
	}
	if cfg.Card == nil {
		cfg.Card = func() *wire.Card { return nil }
	}
	cfg.Options.defaults()
	if cfg.Account == nil {
		cfg.Account = cfg.Identity.Public()
	}
	return &Service{
		cfg: cfg, st: cfg.Store, id: cfg.Identity, uid: string(cfg.Account.UserID()), dev: string(cfg.Identity.UserID()), log: cfg.Logger,
		opts: cfg.Options, hist: cfg.History,
		dep: groupmail.New(groupmail.Config{Store: cfg.Store, Identity: cfg.Identity, Logger: cfg.Logger, Now: cfg.Now,
			Link: cfg.RelayLink, Pairwise: func(tx *store.Tx) groupmail.Pairwise { return mailPairwise{cfg.Pairwise(tx)} }}),
		topics:  map[string]*joinedTopic{},
		chains:  chains.New(),
		pending: map[string][][]byte{}, syncAt: map[string]time.Time{}, wake: make(chan struct{}, 1),
		fanDue: true, // what a previous run still owed
	}, nil
}

// RunDeposits makes the persisted multi deposits whenever some are added, and retries
// with backoff, until ctx ends (one goroutine, the caller's).
func (s *Service) RunDeposits(ctx context.Context) { s.dep.Run(ctx) }

// DepositsPending is how many multi deposits wait to be made (for tests and status).
func (s *Service) DepositsPending() int { return s.dep.Pending() }

// Options are the options in effect (defaults filled in).
func (s *Service) Options() Options { return s.opts }

func (s *Service) nowMS() int64 { return s.cfg.Now().UnixMilli() }

// stamp issues a timestamp and saves it as the clock's last in tx.
func (s *Service) stamp(tx *store.Tx) (string, error) {
	ts := s.cfg.Clock.Now().String()
	return ts, s.cfg.SaveClock(tx, ts)
}
