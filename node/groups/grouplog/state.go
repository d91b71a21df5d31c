package grouplog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// MaxOps bounds the operations one group's log keeps.
const MaxOps = 4096

// Group is a group as stored: its signed operation log and the state derived from it
// (recomputed by fold whenever the log changes), and our sending side.
//
// Layout (layout): gr/ holds the header (no members), gn/<gid>/<bucket> the
// members in memberBuckets buckets by a hash of the user id, go/<gid>/<op hash> one
// signed operation each, gm/ the meta record. A change writes the header, the buckets
// of the members it changes and the operations it adds: O(change), not O(group). The
// first release kept the members in gr/ and the whole log in gl/ (layout 0); such a
// group is read as it is and rewritten in this layout on its next change.
type Group struct {
	ID  string   `json:"id"`
	Ops [][]byte `json:"-"` // signed operations, in fold order (go/, loaded on demand)

	// Derived by fold.
	Name    string             `json:"name"`
	Members []wire.GroupMember `json:"members,omitempty"` // sorted by user id (gr/ in layout 0 only)
	Secret  []byte             `json:"secret"`
	Max     int                `json:"max"`
	Head    string             `json:"head"`
	// The disappearing-message timer (seconds, 0 off) the latest OpDisappear set, its
	// timestamp (HLC text; "" when none did) and author.
	Disappear   int64  `json:"disappear,omitempty"`
	DisappearTS string `json:"disappear_ts,omitempty"`
	DisappearBy string `json:"disappear_by,omitempty"`

	Me      bool   `json:"me"` // we are a member
	SendSeq uint64 `json:"-"`  // our last group sequence number (gm/)
	Created int64  `json:"created"`
	Layout  int    `json:"layout,omitempty"`
}

// CheckName trims a group name and refuses one that is empty, not UTF-8 or over
// wire.MaxGroupName bytes, or that holds a control character or a Unicode bidirectional
// control (which would make it show as another text to every member): a bad_request for
// the UI.
func CheckName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" || !utf8.ValidString(n) || len(n) > wire.MaxGroupName {
		return "", api.Errorf(api.ErrBadRequest, "name must be 1 to %d bytes of UTF-8", wire.MaxGroupName)
	}
	if strings.ContainsFunc(n, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == 0x200e || r == 0x200f || r == 0x061c || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
	}) {
		return "", api.Errorf(api.ErrBadRequest, "name must hold no control characters or bidirectional controls")
	}
	return n, nil
}

// TimerChanged reports whether g, the state after a change of the log, sets another
// disappearing-message timer than old (nil: a group new here) did, and the timestamp of
// the operation that set it.
func TimerChanged(old, g *Group) (hlc.Timestamp, bool) {
	if g.DisappearTS == "" || (old != nil && old.DisappearTS == g.DisappearTS) {
		return hlc.Timestamp{}, false
	}
	ts, err := hlc.Parse(g.DisappearTS)
	return ts, err == nil
}

// layout is the storage layout Save writes.
const layout = 1

// memberBuckets is how many records hold a group's members: a change of one member
// rewrites one bucket (at the 1,000-member cap, about 16 members).
const memberBuckets = 64

// Meta is the little a group message needs, kept apart so that sending and receiving
// do not decode the member list or the log.
type Meta struct {
	Me      bool   `json:"me"`
	Head    string `json:"head"`
	SendSeq uint64 `json:"send_seq"`
	Members int    `json:"members"`
}

func kGroupMeta(gid string) []byte { return []byte("gm/" + gid) }
func kGroupLog(gid string) []byte  { return []byte("gl/" + gid) } // layout 0

func kGroupBucketPrefix(gid string) []byte { return []byte("gn/" + gid + "/") }
func kGroupBucket(gid string, b int) []byte {
	return fmt.Appendf(kGroupBucketPrefix(gid), "%02x", b)
}

// OpPrefix is the key prefix of group gid's operation records (go/).
func OpPrefix(gid string) []byte { return []byte("go/" + gid + "/") }
func kGroupOp(gid string, raw []byte) []byte {
	return append(OpPrefix(gid), OpKey(raw)...)
}

// OpKey names a signed operation in the store: a hash of its bytes.
func OpKey(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:16])
}

func memberBucket(uid string) int {
	h := sha256.Sum256([]byte(uid))
	return int(h[0]) % memberBuckets
}

// LoadMeta loads group gid's meta record, or an api not_found error.
func LoadMeta(tx *store.Tx, gid string) (*Meta, error) {
	return load[Meta](tx, kGroupMeta(gid), "group", gid)
}

// SaveMeta writes group gid's meta record.
func SaveMeta(tx *store.Tx, gid string, m *Meta) error { return store.PutJSON(tx, kGroupMeta(gid), m) }

// load reads the record at key, or an api not_found error naming what and id.
func load[T any](tx *store.Tx, key []byte, what, id string) (*T, error) {
	var v T
	ok, err := store.GetJSON(tx, key, &v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "no %s %q", what, id)
	}
	return &v, nil
}

// WithOps loads the group's operation log into g (nothing when it is loaded).
func WithOps(tx *store.Tx, g *Group) error {
	if g.Ops != nil {
		return nil
	}
	if g.Layout < layout {
		_, err := store.GetJSON(tx, kGroupLog(g.ID), &g.Ops)
		return err
	}
	g.Ops = [][]byte{}
	return tx.Iterate(store.IterOptions{Prefix: OpPrefix(g.ID)}, func(_, v []byte) (bool, error) {
		g.Ops = append(g.Ops, bytes.Clone(v))
		return true, nil
	})
}

// Save writes the group's state and its meta record: of what old (the state before,
// with its log; nil for a group new here) already holds, only what changed.
func Save(tx *store.Tx, g, old *Group) error {
	hdr := *g
	hdr.Members, hdr.Layout = nil, layout
	if err := store.PutJSON(tx, kGroup(g.ID), &hdr); err != nil {
		return err
	}
	g.Layout = layout
	fresh := old == nil || old.Layout < layout
	if old != nil && old.Layout < layout {
		if err := tx.Delete(kGroupLog(g.ID)); err != nil {
			return err
		}
	}

	// Members: the buckets in which anyone joined, left or changed.
	prev := map[string]*wire.GroupMember{}
	if !fresh {
		for i := range old.Members {
			prev[old.Members[i].UserID] = &old.Members[i]
		}
	}
	dirty := map[int]bool{}
	for i := range g.Members {
		mb := &g.Members[i]
		if p := prev[mb.UserID]; fresh || p == nil || !sameMember(p, mb) {
			dirty[memberBucket(mb.UserID)] = true
		}
		delete(prev, mb.UserID)
	}
	for u := range prev {
		dirty[memberBucket(u)] = true
	}
	if len(dirty) > 0 {
		buckets := map[int][]wire.GroupMember{}
		for _, mb := range g.Members {
			if b := memberBucket(mb.UserID); dirty[b] {
				buckets[b] = append(buckets[b], mb)
			}
		}
		for b := range dirty {
			var err error
			if len(buckets[b]) == 0 {
				err = tx.Delete(kGroupBucket(g.ID, b))
			} else {
				err = store.PutJSON(tx, kGroupBucket(g.ID, b), buckets[b])
			}
			if err != nil {
				return err
			}
		}
	}

	// Operations: the new ones (and, should fold have dropped one, its deletion).
	had := map[string]bool{}
	if !fresh {
		for _, o := range old.Ops {
			had[OpKey(o)] = true
		}
	}
	for _, o := range g.Ops {
		k := OpKey(o)
		if !had[k] {
			if err := tx.Set(kGroupOp(g.ID, o), o); err != nil {
				return err
			}
		}
		delete(had, k)
	}
	for k := range had {
		if err := tx.Delete(append(OpPrefix(g.ID), k...)); err != nil {
			return err
		}
	}
	return SaveMeta(tx, g.ID, &Meta{Me: g.Me, Head: g.Head, SendSeq: g.SendSeq, Members: len(g.Members)})
}

func sameMember(a, b *wire.GroupMember) bool {
	return a.UserID == b.UserID && bytes.Equal(a.Identity, b.Identity) && a.Role == b.Role && a.Name == b.Name &&
		a.PeerID == b.PeerID && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Relays, b.Relays)
}

func kGroup(gid string) []byte { return []byte("gr/" + gid) }

// Load loads group gid's state (not its log: see LoadWithOps and WithOps), or an api
// not_found error.
func Load(tx *store.Tx, gid string) (*Group, error) {
	g, err := load[Group](tx, kGroup(gid), "group", gid)
	if err != nil {
		return nil, err
	}
	if g.Layout >= layout {
		g.Members = nil
		err := tx.Iterate(store.IterOptions{Prefix: kGroupBucketPrefix(gid)}, func(_, v []byte) (bool, error) {
			var ms []wire.GroupMember
			if err := json.Unmarshal(v, &ms); err != nil {
				return false, fmt.Errorf("groups: group %s members: %w", gid, err)
			}
			g.Members = append(g.Members, ms...)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(g.Members, func(a, b wire.GroupMember) int { return strings.Compare(a.UserID, b.UserID) })
	}
	meta, err := LoadMeta(tx, gid)
	if err != nil {
		return nil, err
	}
	g.SendSeq = meta.SendSeq
	return g, nil
}

// Member returns the member with user id uid, or nil.
func (g *Group) Member(uid string) *wire.GroupMember {
	i, ok := slices.BinarySearchFunc(g.Members, uid, func(m wire.GroupMember, u string) int { return strings.Compare(m.UserID, u) })
	if !ok {
		return nil
	}
	return &g.Members[i]
}

// LoadWithOps loads group gid's state and its signed operation log.
func LoadWithOps(tx *store.Tx, gid string) (*Group, error) {
	g, err := Load(tx, gid)
	if err != nil {
		return nil, err
	}
	return g, WithOps(tx, g)
}
