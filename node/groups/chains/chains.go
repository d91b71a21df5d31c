package chains

import (
	"crypto/ed25519"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/petrel-chat/petrel/crypto/senderkey"
)

const (
	maxRevoked     = 1 << 14 // chains remembered as revoked
	maxOwnersPerID = 4       // senders indexed under one distribution id (only one is genuine)
)

// Owner is whose chain a distribution id names.
type Owner struct {
	Group, User string
	// Device is the user id of the key of the member's device whose chain it is: User
	// itself for the member's primary device.
	Device string
	Pub    ed25519.PublicKey
	Bound  bool // the id is bound to (Group, Device, Pub): senderkey.NewSenderBound
}

// State is what the index knows of a group message's chain.
type State int

const (
	Found   State = iota // a chain of this group whose key verifies the message
	None                 // no chain of this group under its id (yet)
	Forged               // chains of this group under its id, none verifying
	Revoked              // no chain, and the id belonged to a sender who left
)

// Index maps distribution ids to their owners; it is safe for concurrent use.
type Index struct {
	mu      sync.Mutex
	dists   map[senderkey.DistributionID][]Owner
	revoked map[senderkey.DistributionID]bool
}

// New returns an empty index.
func New() *Index {
	return &Index{dists: map[senderkey.DistributionID][]Owner{}, revoked: map[senderkey.DistributionID]bool{}}
}

// ParseID parses a hex distribution id.
func ParseID(h string) (senderkey.DistributionID, bool) {
	var id senderkey.DistributionID
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// Add records that chain id belongs to o, replacing what that device held under the same
// id in that group, and clears id's revocation. A bound id (o.Bound) names its owner, so
// it replaces every other claim and no unbound claim joins it. Other unbound claims stay:
// such an id is only a hint, and the chain whose signing key verifies a message owns it.
func (x *Index) Add(id senderkey.DistributionID, o Owner) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.add(id, o)
	delete(x.revoked, id)
}

func (x *Index) add(id senderkey.DistributionID, o Owner) {
	os := slices.DeleteFunc(x.dists[id], func(y Owner) bool {
		return o.Bound || (y.Group == o.Group && y.Device == o.Device)
	})
	if !o.Bound && slices.ContainsFunc(os, func(y Owner) bool { return y.Bound }) {
		return
	}
	if len(os) >= maxOwnersPerID {
		os = os[1:]
	}
	x.dists[id] = append(os, o)
}

// Load adds o under id without touching revocations (rebuilding the index at start).
func (x *Index) Load(id senderkey.DistributionID, o Owner) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.add(id, o)
}

// SetOwn makes id the only chain of ours (device dev) in group gid.
func (x *Index) SetOwn(gid, dev string, id senderkey.DistributionID, o Owner) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropWhere(func(y Owner) bool { return y.Group == gid && y.Device == dev }, false)
	x.add(id, o)
}

// ForgetGroup forgets every chain of group gid, remembering them as revoked.
func (x *Index) ForgetGroup(gid string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropWhere(func(y Owner) bool { return y.Group == gid }, true)
}

// dropWhere removes the entries that match, marking their ids revoked if asked.
func (x *Index) dropWhere(match func(Owner) bool, revoke bool) {
	for id, os := range x.dists {
		n := len(os)
		os = slices.DeleteFunc(os, match)
		if len(os) == n {
			continue
		}
		if revoke {
			x.revoke(id)
		}
		if len(os) == 0 {
			delete(x.dists, id)
		} else {
			x.dists[id] = os
		}
	}
}

func (x *Index) revoke(id senderkey.DistributionID) {
	if len(x.revoked) >= maxRevoked {
		clear(x.revoked) // forgetting only turns Reject into Ignore
	}
	x.revoked[id] = true
}

// Drop forgets the chains (hex ids) device dev held in gid: it left, was revoked, or the
// chains were superseded.
func (x *Index) Drop(gid, dev string, ids []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, h := range ids {
		id, ok := ParseID(h)
		if !ok {
			continue
		}
		os := slices.DeleteFunc(x.dists[id], func(y Owner) bool { return y.Group == gid && y.Device == dev })
		if len(os) > 0 {
			x.dists[id] = os
			continue
		}
		delete(x.dists, id)
		x.revoke(id)
	}
}

// ClaimedByOther returns a sender other than device dev in gid (in this group or another)
// indexed under chain id.
func (x *Index) ClaimedByOther(id senderkey.DistributionID, gid, dev string) (Owner, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, o := range x.dists[id] {
		if o.Group != gid || o.Device != dev {
			return o, true
		}
	}
	return Owner{}, false
}

// Owner finds who sent group message sm in gid: the indexed chain of that group, under
// the message's distribution id, whose signing key verifies it.
func (x *Index) Owner(gid string, sm *senderkey.Message) (Owner, State) {
	x.mu.Lock()
	os := slices.Clone(x.dists[sm.ID()])
	revoked := x.revoked[sm.ID()]
	x.mu.Unlock()
	st := None
	for _, o := range os { // a bound chain, if any, is the only one (add)
		if o.Group != gid {
			continue
		}
		if sm.Verify(o.Pub) {
			return o, Found
		}
		st = Forged
	}
	if st == None && revoked {
		st = Revoked
	}
	return Owner{}, st
}

// KnownIn reports whether chain id is indexed for group gid.
func (x *Index) KnownIn(gid string, id senderkey.DistributionID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, o := range x.dists[id] {
		if o.Group == gid {
			return true
		}
	}
	return false
}
