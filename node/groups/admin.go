package groups

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/groups/owed"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Options tune groups. Zero values take the defaults below.
type Options struct {
	// MaxSize caps the groups this node creates (members, creator included); it travels
	// in the create operation, so every member enforces the same cap. Default 1,000.
	MaxSize int
	// FallbackAfter is how long a sender waits for a member's delivery receipt before it
	// delivers the message to that member over their pairwise session (and, once relays
	// land, its mailbox). Default 5 s.
	FallbackAfter time.Duration
}

// Defaults.
const (
	DefaultMaxSize       = 1000
	defaultFallbackAfter = 5 * time.Second
)

func (o *Options) defaults() {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	o.MaxSize = min(o.MaxSize, wire.MaxGroupMembers)
	if o.FallbackAfter <= 0 {
		o.FallbackAfter = defaultFallbackAfter
	}
}

// myMember is our own card for group state.
func (s *Service) myMember(role string) wire.GroupMember {
	me := wire.GroupMember{UserID: s.uid, Identity: s.cfg.Account.Bytes(), Role: role, Name: s.cfg.Profile(), Addrs: []string{}, Relays: []string{}}
	if c := s.cfg.Card(); c != nil {
		me.PeerID, me.Addrs, me.Relays = c.PeerID, c.Addrs, c.Relays
	}
	return me
}

// contactMember is a contact's card for group state.
func contactMember(c *Contact) wire.GroupMember {
	g := wire.GroupMember{UserID: c.UserID, Identity: c.Identity, Role: api.RoleMember, Name: c.Name, PeerID: c.PeerID,
		Addrs: c.Addrs[:min(len(c.Addrs), wire.MaxAddrs)], Relays: c.Relays[:min(len(c.Relays), wire.MaxAddrs)]}
	if g.Addrs == nil {
		g.Addrs = []string{}
	}
	if g.Relays == nil {
		g.Relays = []string{}
	}
	if len(g.Name) > wire.MaxName {
		g.Name = g.Name[:wire.MaxName]
	}
	return g
}

// signOp stamps and signs an operation of ours.
func (s *Service) signOp(tx *store.Tx, op *wire.GroupOp) ([]byte, error) {
	if s.dev != s.uid {
		return nil, errLinkedDevice
	}
	op.ID, op.Author = newID("o"), s.uid
	ts, err := s.stamp(tx)
	if err != nil {
		return nil, err
	}
	op.TS = ts
	raw, err := wire.SignGroupOp(s.id, op)
	if errors.Is(err, wire.ErrTooLarge) {
		return nil, api.Errorf(api.ErrTooLarge, "the group change does not fit in one operation")
	}
	return raw, err
}

// errLinkedDevice: members verify a group operation under its author's account key, which
// only the account's primary device holds (docs/PROTOCOL.md, "Linked devices").
var errLinkedDevice = api.Errorf(api.ErrForbidden, "group changes are signed with the account key: make them on your primary device")

// addable returns the contacts for user ids to add to a group, or a UI error.
func (s *Service) addable(tx *store.Tx, pw Pairwise, uids []string) ([]wire.GroupMember, error) {
	var out []wire.GroupMember
	for _, u := range uids {
		c, err := pw.Contact(u)
		if err != nil {
			return nil, err
		}
		if c == nil || c.Request != api.RequestAccepted {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q is not one of your contacts", u)
		}
		if c.Blocked {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q is blocked", u)
		}
		if _, err := identity.ParsePublic(c.Identity); err != nil || c.PeerID == "" {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q cannot be reached yet", u)
		}
		out = append(out, contactMember(c))
	}
	return out, nil
}

func uniq(uids []string, drop string) []string {
	out := []string{}
	for _, u := range uids {
		if u != drop && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// Create creates, in tx, a group of the user and some contacts (user ids), with the user
// as its admin, and returns its id.
func (s *Service) Create(tx *store.Tx, name string, members []string) (string, error) {
	name, err := grouplog.CheckName(name)
	if err != nil {
		return "", err
	}
	members = uniq(members, s.uid)
	if max := s.opts.MaxSize; len(members)+1 > max {
		return "", api.Errorf(api.ErrConflict, "a group has at most %d members (you asked for %d)", max, len(members)+1)
	}
	pw := s.cfg.Pairwise(tx)
	cards, err := s.addable(tx, pw, members)
	if err != nil {
		return "", err
	}
	secret := make([]byte, wire.GroupSecretSize)
	rand.Read(secret)
	// A large group's cards do not fit one operation: the create carries the first
	// ones, adds right after it the rest.
	chunks := grouplog.ChunkMembers(append([]wire.GroupMember{s.myMember(api.RoleAdmin)}, cards...))
	op := &wire.GroupOp{Kind: wire.OpCreate, Name: name, Secret: secret, Max: s.opts.MaxSize, Members: chunks[0]}
	raw, err := s.signOp(tx, op)
	if err != nil {
		return "", err
	}
	so, err := wire.ParseGroupOp(raw)
	if err != nil {
		return "", err
	}
	gid := so.CreatedGroupID()
	ops := [][]byte{raw}
	for _, ch := range chunks[1:] {
		raw, err := s.signOp(tx, &wire.GroupOp{Group: gid, Kind: wire.OpAdd, Members: ch})
		if err != nil {
			return "", err
		}
		ops = append(ops, raw)
	}
	g, err := s.setGroupLog(tx, pw, nil, gid, ops, ops)
	if err != nil {
		return "", err
	}
	return g.ID, nil
}

// adminGroup loads a group for a change by the user and checks they may make it.
func (s *Service) adminGroup(tx *store.Tx, gid string, admin bool) (*Group, error) {
	g, err := grouplog.Load(tx, gid)
	if err != nil {
		return nil, err
	}
	if err := grouplog.WithOps(tx, g); err != nil {
		return nil, err
	}
	me := g.Member(s.uid)
	switch {
	case me == nil:
		return nil, api.Errorf(api.ErrForbidden, "you are not a member of this group")
	case admin && me.Role != api.RoleAdmin:
		return nil, api.Errorf(api.ErrForbidden, "only the group's admins can do that")
	}
	return g, nil
}

// SetDisappear sets group gid's timer to secs (0: off) in tx: a signed OpDisappear
// (admins only). It returns the operation's timestamp (HLC text).
func (s *Service) SetDisappear(tx *store.Tx, gid string, secs int64) (string, error) {
	op := &wire.GroupOp{Group: gid, Kind: wire.OpDisappear, Disappear: secs}
	err := s.groupOp(tx, gid, true, op)
	return op.TS, err
}

// ChangeMembers adds and removes members of group gid in tx (admins only).
func (s *Service) ChangeMembers(tx *store.Tx, gid string, add, remove []string) error {
	add, remove = uniq(add, s.uid), uniq(remove, "")
	if len(add)+len(remove) == 0 {
		return api.Errorf(api.ErrBadRequest, "add or remove someone")
	}
	g, err := s.adminGroup(tx, gid, true)
	if err != nil {
		return err
	}
	pw := s.cfg.Pairwise(tx)
	var news [][]byte
	if len(remove) > 0 {
		var users []string
		for _, u := range remove {
			if g.Member(u) != nil {
				users = append(users, u)
			}
		}
		if len(users) > 0 {
			raw, err := s.signOp(tx, &wire.GroupOp{Group: gid, Kind: wire.OpRemove, Users: users})
			if err != nil {
				return err
			}
			news = append(news, raw)
		}
	}
	var cards []wire.GroupMember
	var fresh []string
	for _, u := range add {
		if g.Member(u) == nil || slices.Contains(remove, u) {
			fresh = append(fresh, u)
		}
	}
	if cards, err = s.addable(tx, pw, fresh); err != nil {
		return err
	}
	if len(cards) > 0 {
		n := len(g.Members) + len(cards)
		for _, u := range remove {
			if g.Member(u) != nil {
				n--
			}
		}
		if n > g.Max {
			return api.Errorf(api.ErrConflict, "a group has at most %d members; this change would make %d", g.Max, n)
		}
		for _, ch := range grouplog.ChunkMembers(cards) {
			raw, err := s.signOp(tx, &wire.GroupOp{Group: gid, Kind: wire.OpAdd, Members: ch})
			if err != nil {
				return err
			}
			news = append(news, raw)
		}
	}
	if len(news) > 0 {
		if _, err := s.setGroupLog(tx, pw, g, gid, append(slices.Clone(g.Ops), news...), news); err != nil {
			return err
		}
	}
	return nil
}

// Leave leaves group gid in tx.
func (s *Service) Leave(tx *store.Tx, gid string) error {
	return s.groupOp(tx, gid, false, &wire.GroupOp{Group: gid, Kind: wire.OpLeave})
}

// Rename renames group gid in tx (admins only).
func (s *Service) Rename(tx *store.Tx, gid, name string) error {
	name, err := grouplog.CheckName(name)
	if err != nil {
		return err
	}
	return s.groupOp(tx, gid, true, &wire.GroupOp{Group: gid, Kind: wire.OpRename, Name: name})
}

// SetRole makes members of group gid admins or plain members in tx (admins only; an
// extension).
func (s *Service) SetRole(tx *store.Tx, gid string, users []string, role string) error {
	if role != api.RoleAdmin && role != api.RoleMember {
		return api.Errorf(api.ErrBadRequest, `role must be "admin" or "member"`)
	}
	if len(users) == 0 {
		return api.Errorf(api.ErrBadRequest, "name the members")
	}
	return s.groupOp(tx, gid, true, &wire.GroupOp{Group: gid, Kind: wire.OpRole, Users: uniq(users, ""), Role: role})
}

func (s *Service) groupOp(tx *store.Tx, gid string, admin bool, op *wire.GroupOp) error {
	g, err := s.adminGroup(tx, gid, admin)
	if err != nil {
		return err
	}
	raw, err := s.signOp(tx, op)
	if err != nil {
		return err
	}
	if _, err := s.setGroupLog(tx, s.cfg.Pairwise(tx), g, gid, append(slices.Clone(g.Ops), raw), [][]byte{raw}); err != nil {
		return err
	}
	return nil
}

// setGroupLog makes ops the group's log and carries out what the new state asks of this
// node: join or leave the group, set up contacts and sessions with new members and send
// them our sender key, drop the keys of members who left and rotate ours. news are
// operations authored here: they go to every member of the old and the new state (the
// whole log to members who are new). old is nil for a group new to this node.
func (s *Service) setGroupLog(tx *store.Tx, pw Pairwise, old *Group, gid string, ops, news [][]byte) (*Group, error) {
	if len(ops) > grouplog.MaxOps {
		return nil, api.Errorf(api.ErrConflict, "the group's history of changes is full")
	}
	g, err := grouplog.Fold(gid, ops)
	if err != nil {
		return nil, err
	}
	g.Me = g.Member(s.uid) != nil
	g.Created = s.nowMS()
	oldMembers := map[string]bool{}
	if old != nil {
		g.SendSeq, g.Created = old.SendSeq, old.Created
		if old.Me {
			for _, mb := range old.Members {
				oldMembers[mb.UserID] = true
			}
		}
	}
	var added, removed []string
	for _, mb := range g.Members {
		if mb.UserID != s.uid && !oldMembers[mb.UserID] {
			added = append(added, mb.UserID)
		}
	}
	for u := range oldMembers {
		if u != s.uid && (g.Member(u) == nil || !g.Me) {
			removed = append(removed, u)
		}
	}
	slices.Sort(removed)

	// Everyone this change concerns: the members before and after. Few are served here;
	// many are owed (fanout.go), in records written with the change.
	targets := map[string]bool{}
	for u := range oldMembers {
		targets[u] = true
	}
	for _, mb := range g.Members {
		targets[mb.UserID] = true
	}
	delete(targets, s.uid)
	inline := len(targets) <= fanoutInline
	debts := map[string]*owed.Rec{}
	debt := func(u string) *owed.Rec {
		if debts[u] == nil {
			debts[u] = &owed.Rec{}
		}
		return debts[u]
	}

	// Contacts (and so pairwise sessions) with every member.
	if g.Me {
		for _, u := range added {
			if !inline {
				debt(u).Contact = true
			} else if err := pw.AddMember(g.Member(u)); err != nil {
				return nil, err
			}
		}
	}
	if err := grouplog.Save(tx, g, old); err != nil {
		return nil, err
	}
	if len(news) > 0 {
		// Our own other devices hold the group too: they get the whole log of a change
		// made here (the group-changes sync), whatever they already have.
		if err := s.sendLog(tx, pw, g, s.uid, nil); err != nil {
			return nil, err
		}
	}

	// Operations authored here go to everyone concerned: new members get the whole log.
	if len(news) > 0 {
		var newsKeys []string
		var log *grouplog.Log
		for _, o := range news {
			newsKeys = append(newsKeys, grouplog.OpKey(o))
		}
		for _, u := range sortedKeys(targets) {
			switch {
			case !inline && !oldMembers[u]:
				debt(u).All = true
			case !inline:
				debt(u).Ops = newsKeys
			case !oldMembers[u]:
				if log == nil {
					log = grouplog.Sort(g.Ops)
				}
				err = s.sendLog(tx, pw, g, u, log)
			default:
				err = s.sendOps(tx, pw, g, u, news)
			}
			if err != nil {
				return nil, err
			}
		}
	}

	// Keys: forget those who left; rotate ours when anyone left; give ours to newcomers.
	for _, u := range removed {
		if err := s.dropMemberKeys(tx, gid, u); err != nil {
			return nil, err
		}
	}
	var keyTo []string
	var ss *senderkey.SenderState
	switch {
	case !g.Me:
		if old != nil && old.Me {
			if err := tx.Delete(kGroupSender(gid)); err != nil {
				return nil, err
			}
			tx.OnCommit(func() { s.chains.ForgetGroup(gid) })
		}
	case old == nil || !old.Me || len(removed) > 0:
		if ss, err = s.rotateSender(tx, g); err != nil {
			return nil, err
		}
		for _, mb := range g.Members {
			if mb.UserID != s.uid {
				keyTo = append(keyTo, mb.UserID)
			}
		}
		keyTo = append(keyTo, s.uid) // our own other devices
	case len(added) > 0:
		if ss, err = loadSender(tx, gid); err != nil {
			return nil, err
		}
		keyTo = added
	}
	if len(keyTo) > 0 {
		key := s.keyContent(g, ss)
		snap := ""
		for _, u := range keyTo {
			if inline || u == s.uid {
				if err := s.giveKey(tx, pw, g, u, key); err != nil {
					return nil, err
				}
				continue
			}
			if snap == "" {
				if snap, err = owed.SnapKey(tx, gid, key); err != nil {
					return nil, err
				}
			}
			debt(u).Key = snap
		}
	}
	if g.Me {
		for _, u := range added {
			if err := s.applyStash(tx, pw, g, u); err != nil {
				return nil, err
			}
		}
	}
	owing := map[string]bool{}
	for u := range debts {
		owing[u] = true
	}
	for _, u := range sortedKeys(owing) {
		f := debts[u]
		if err := owed.Owe(tx, gid, u, func(x *owed.Rec) {
			x.Contact = x.Contact || f.Contact
			x.All = x.All || f.All
			if f.Key != "" {
				x.Key = f.Key
			}
			x.Ops = append(x.Ops, f.Ops...)
		}); err != nil {
			return nil, err
		}
	}
	if len(debts) > 0 {
		tx.OnCommit(s.fanKick)
	}

	// The conversation.
	if err := s.hist.OpenConversation(tx, gid); err != nil {
		return nil, err
	}
	if ts, ok := grouplog.TimerChanged(old, g); ok && s.hist.Disappear != nil {
		if err := s.hist.Disappear(tx, gid, g.DisappearBy, g.Disappear, ts); err != nil {
			return nil, err
		}
	}
	snapshot := *g
	tx.OnCommit(func() { s.update(&snapshot) })
	return g, nil
}

func sortedKeys(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func loadSender(tx *store.Tx, gid string) (*senderkey.SenderState, error) {
	b, err := tx.Get(kGroupSender(gid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.ErrForbidden, "you are not a member of this group")
	}
	if err != nil {
		return nil, err
	}
	return senderkey.UnmarshalSender(b)
}

func saveSender(tx *store.Tx, gid string, ss *senderkey.SenderState) error {
	b, err := ss.MarshalBinary()
	if err != nil {
		return err
	}
	return tx.Set(kGroupSender(gid), b)
}

// rotateSender starts a new sending chain (setGroupLog gives it to every other member).
func (s *Service) rotateSender(tx *store.Tx, g *Group) (*senderkey.SenderState, error) {
	ss, err := senderkey.NewSenderBound(wire.GroupKeyOwner(g.ID, s.dev))
	if err != nil {
		return nil, err
	}
	if err := saveSender(tx, g.ID, ss); err != nil {
		return nil, err
	}
	gid, id := g.ID, ss.ID()
	d, err := senderkey.ParseDistribution(ss.Distribution())
	if err != nil {
		return nil, err
	}
	pub := d.SigningKey()
	tx.OnCommit(func() { s.setOwn(gid, id, pub) })
	return ss, nil
}

// keyContent is the gkey content that gives our chain ss, as it is now, to a member.
func (s *Service) keyContent(g *Group, ss *senderkey.SenderState) *wire.Content {
	return &wire.Content{Kind: wire.KindGroupKey, Group: g.ID, Head: g.Head, Data: wire.SignGroupKey(s.id, g.ID, ss.Distribution()), GSeq: g.SendSeq + 1}
}

// giveKey gives member uid our sending chain (key, a keyContent). Between two members
// without a pairwise session yet, only the one with the smaller user id starts it (with
// its key); the other owes its key until that key arrives (acceptKey), so a new group's
// members do not all start two sessions per pair at once. Once their key has arrived ours
// is sent at once: nothing else would send it.
func (s *Service) giveKey(tx *store.Tx, pw Pairwise, g *Group, uid string, key *wire.Content) error {
	key = &wire.Content{Kind: key.Kind, Group: key.Group, Head: key.Head, Data: key.Data, GSeq: key.GSeq}
	if uid < s.uid {
		c, err := pw.Contact(uid)
		if err != nil || c == nil {
			return err
		}
		have, err := sessions.Exists(tx, c.ID)
		if err != nil {
			return err
		}
		if !have {
			// Their key already came (before a change of ours, or over a session since
			// dropped): acceptKey will not run again to send what we owe, so send it now.
			if _, err := tx.Get(kGroupRecv(g.ID, uid)); err == nil {
				return pw.Send(uid, key)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			var rx memberRx
			if _, err := getJSON(tx, kGroupRx(g.ID, uid), &rx); err != nil {
				return err
			}
			rx.Owed = key
			return putJSON(tx, kGroupRx(g.ID, uid), &rx)
		}
	}
	return pw.Send(uid, key)
}

// dropMemberKeys forgets what we hold to read a member's messages, from every device of
// theirs.
func (s *Service) dropMemberKeys(tx *store.Tx, gid, uid string) error {
	return s.dropDeviceKeys(tx, gid, func(dev string, rx *memberRx) bool { return rx.user(dev) == uid })
}

// dropDeviceKeys forgets the receiving chains of the member devices that match.
func (s *Service) dropDeviceKeys(tx *store.Tx, gid string, match func(dev string, rx *memberRx) bool) error {
	prefix := kGroupRxPrefix(gid)
	var devs []string
	var rxs []memberRx
	err := tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
		var rx memberRx
		if err := json.Unmarshal(v, &rx); err != nil {
			return false, err
		}
		if dev := string(k[len(prefix):]); match(dev, &rx) {
			devs, rxs = append(devs, dev), append(rxs, rx)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for i, dev := range devs {
		for _, k := range [][]byte{kGroupRecv(gid, dev), kGroupRx(gid, dev), kGroupStash(gid, dev)} {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		dev, dists := dev, rxs[i].Dists
		tx.OnCommit(func() { s.dropDists(gid, dev, dists) })
	}
	return nil
}

// stashedKey is a member's distribution that arrived before we knew them as a member.
type stashedKey struct {
	Data []byte `json:"data"`
	GSeq uint64 `json:"gseq"`
}

// applyStash installs the distributions member uid's devices gave before they were one.
func (s *Service) applyStash(tx *store.Tx, pw Pairwise, g *Group, uid string) error {
	ds, err := pw.Devices(uid)
	if err != nil {
		return err
	}
	devs := []string{uid}
	for _, d := range ds {
		if d.UID != uid {
			devs = append(devs, d.UID)
		}
	}
	for _, dev := range devs {
		var k stashedKey
		ok, err := getJSON(tx, kGroupStash(g.ID, dev), &k)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := tx.Delete(kGroupStash(g.ID, dev)); err != nil {
			return err
		}
		if err := s.acceptKey(tx, pw, g, uid, dev, k.Data, k.GSeq); err != nil {
			return err
		}
	}
	return nil
}

// acceptKey installs the sender key distribution of member uid's device dev (the user id
// of its key; uid for their primary). A signed one (wire.SignGroupKey) must verify under
// that device's key as their verified list has it and carry an id bound to the device; a
// legacy one (older nodes, primaries only) must not name a chain another sender holds or
// is bound to.
func (s *Service) acceptKey(tx *store.Tx, pw Pairwise, g *Group, uid, dev string, data []byte, gseq uint64) error {
	d, bound, err := s.openKey(pw, g, uid, dev, data)
	if err != nil {
		s.log.Info("bad group key", "group", g.ID, "from", uid, "device", dev, "err", err)
		return nil
	}
	var rx memberRx
	if _, err := getJSON(tx, kGroupRx(g.ID, dev), &rx); err != nil {
		return err
	}
	if dev != uid {
		rx.User = uid
	}
	var rs *senderkey.ReceiverState
	if b, err := tx.Get(kGroupRecv(g.ID, dev)); err == nil {
		if rs, err = senderkey.UnmarshalReceiver(b); err != nil {
			return err
		}
		if err := rs.Add(d); err != nil {
			s.log.Info("group key refused", "group", g.ID, "from", uid, "err", err)
			return nil
		}
	} else if errors.Is(err, store.ErrNotFound) {
		rs = senderkey.NewReceiver(d)
		rx.RecvSeq = max(rx.RecvSeq, gseq-1) // nothing sent before we joined is ours to read
	} else {
		return err
	}
	info := distInfo{ID: d.ID().String(), Pub: d.SigningKey(), Bound: bound}
	rx.Dists = slices.DeleteFunc(rx.Dists, func(x distInfo) bool { return x.ID == info.ID })
	rx.Dists = append([]distInfo{info}, rx.Dists...)
	var dropped []distInfo
	if len(rx.Dists) > senderkey.MaxChains {
		dropped = rx.Dists[senderkey.MaxChains:]
		rx.Dists = rx.Dists[:senderkey.MaxChains]
	}
	b, err := rs.MarshalBinary()
	if err != nil {
		return err
	}
	if err := tx.Set(kGroupRecv(g.ID, dev), b); err != nil {
		return err
	}
	owed := rx.Owed
	rx.Owed = nil
	if err := putJSON(tx, kGroupRx(g.ID, dev), &rx); err != nil {
		return err
	}
	if owed != nil && g.Me {
		// Their key came over the pairwise session they started: ours can follow.
		owed.Seq, owed.ID, owed.TS, owed.Head = 0, "", "", g.Head
		if err := pw.Send(uid, owed); err != nil {
			return err
		}
	}
	gid := g.ID
	tx.OnCommit(func() {
		s.dropDists(gid, dev, dropped)
		s.addDist(gid, uid, dev, info)
	})
	return nil
}

// openKey checks the gkey data of member uid's device dev (acceptKey) and returns its
// distribution and whether its id is bound to the device.
func (s *Service) openKey(pw Pairwise, g *Group, uid, dev string, data []byte) (*senderkey.Distribution, bool, error) {
	mb := g.Member(uid)
	if mb == nil {
		return nil, false, errors.New("not a member")
	}
	key := mb.Identity
	if dev != uid {
		ds, err := pw.Devices(uid)
		if err != nil {
			return nil, false, err
		}
		key = nil
		for _, d := range ds {
			if d.UID == dev {
				key = d.Key
			}
		}
		if key == nil {
			return nil, false, errors.New("a device the member's verified list does not hold active")
		}
	}
	pub, err := identity.ParsePublic(key)
	if err != nil {
		return nil, false, err
	}
	raw, signed, err := wire.OpenGroupKey(data, g.ID, pub)
	if err != nil {
		return nil, false, err
	}
	d, err := senderkey.ParseDistribution(raw)
	if err != nil {
		return nil, false, err
	}
	bound := d.BoundTo(wire.GroupKeyOwner(g.ID, dev))
	switch {
	case signed && !bound:
		return nil, false, errors.New("signed distribution with an unbound id")
	case bound:
		return d, true, nil
	case dev != uid:
		return nil, false, errors.New("a linked device's distribution must be signed")
	}
	// Legacy: an unsigned distribution with a random id, taken unless it names a chain
	// that is someone else's.
	if o, taken := s.chains.ClaimedByOther(d.ID(), g.ID, uid); taken {
		return nil, false, fmt.Errorf("distribution id held by %.40s in %.40s", o.Device, o.Group)
	}
	for _, other := range g.Members {
		if other.UserID != uid && d.BoundTo(wire.GroupKeyOwner(g.ID, other.UserID)) {
			return nil, false, fmt.Errorf("distribution id bound to %.40s", other.UserID)
		}
	}
	return d, false, nil
}

// Apply applies a group content (gops, gsync, gkey, gmsg, gresend or greceipt) that contact from (a user
// id) sent over our pairwise session with their primary, in tx; pw is that transaction's
// pairwise side.
func (s *Service) Apply(tx *store.Tx, pw Pairwise, from string, ct *wire.Content) error {
	return s.ApplyFrom(tx, pw, from, from, ct)
}

// ApplyFrom is Apply for a content from device dev of user from (the user id of the
// device's key, as its channel names it: from itself for their primary). from is our own
// user id for a content from one of our other devices.
func (s *Service) ApplyFrom(tx *store.Tx, pw Pairwise, from, dev string, ct *wire.Content) error {
	gid := ct.Group
	old, err := grouplog.Load(tx, gid)
	if errors.Is(err, api.ErrNotFound) {
		old, err = nil, nil
	}
	if err != nil {
		return err
	}
	isMember := old != nil && old.Member(from) != nil
	switch ct.Kind {
	case wire.KindGroupOps, wire.KindGroupSync, wire.KindGroupKey:
		if old != nil {
			if err := grouplog.WithOps(tx, old); err != nil {
				return err
			}
		}
	}
	switch ct.Kind {
	case wire.KindGroupOps:
		var have [][]byte
		if old != nil {
			have = old.Ops
		}
		g := old
		if merged := grouplog.Merge(have, ct.Ops); merged != nil {
			ng, err := grouplog.Fold(gid, merged)
			if err != nil {
				return nil // not a group we can make sense of (yet)
			}
			if old == nil && ng.Member(s.uid) == nil {
				return nil // someone else's group
			}
			if g, err = s.setGroupLog(tx, pw, old, gid, merged, nil); err != nil {
				if errors.Is(err, api.ErrConflict) {
					s.log.Warn("group log full", "group", gid)
					return nil
				}
				return err
			}
		}
		if g != nil && g.Head != ct.Head && (g.Member(from) != nil || isMember) {
			return s.sendLog(tx, pw, g, from, nil)
		}
	case wire.KindGroupSync:
		if old != nil && old.Me && isMember && old.Head != ct.Head {
			return s.sendLog(tx, pw, old, from, nil)
		}
	case wire.KindGroupKey:
		if old == nil || !old.Me || !isMember {
			return putJSON(tx, kGroupStash(gid, dev), stashedKey{Data: ct.Data, GSeq: ct.GSeq})
		}
		if err := s.acceptKey(tx, pw, old, from, dev, ct.Data, ct.GSeq); err != nil {
			return err
		}
		if ct.Head != old.Head {
			return s.sendLog(tx, pw, old, from, nil)
		}
	case wire.KindGroupMsg:
		if old == nil || !old.Me {
			return nil
		}
		rb := s.NewRx(tx, pw)
		out, err := rb.Envelope(gid, ct.Data)
		if err != nil {
			return err
		}
		if out == Unknown || out == Unlisted { // its key is on its way
			env, recheck := ct.Data, out == Unlisted
			tx.OnCommit(func() { s.Hold(gid, env, recheck) })
		}
		return rb.Finish()
	case wire.KindGroupResend:
		if old == nil || !old.Me || !isMember {
			return nil
		}
		for seq := ct.From; seq <= ct.To && seq <= old.SendSeq; seq++ {
			env, err := tx.Get(kGroupSent(gid, seq))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if s.hist.OpenSent != nil {
				var ok bool
				if env, ok = s.hist.OpenSent(kGroupSent(gid, seq), env); !ok {
					continue // a disappearing content, expired
				}
			}
			if err := pw.SendTo(from, dev, &wire.Content{Kind: wire.KindGroupMsg, Group: gid, Data: env}); err != nil {
				return err
			}
		}
	case wire.KindGroupReceipt:
		if old == nil || !isMember || from == s.uid {
			return nil // a receipt counts a member other than us
		}
		return s.applyGroupReceipt(tx, old, from, ct)
	}
	return nil
}
