package sessions

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/store"
)

// Store keys of the prekey store and of the ids of its one-time keys handed out.
var (
	keyPrekeys = []byte("pk")
	keyIssued  = []byte("pki")
)

// MaxHeld bounds each one-time pool: keys handed out and never used by a handshake are
// dropped, oldest first, past it (the node must keep unused keys to hand out).
const MaxHeld = 4 * prekey.PoolSize

// LoadPrekeys returns the prekey store, creating (and storing) a fresh one for id if there
// is none.
func LoadPrekeys(tx *store.Tx, id *identity.Identity, now time.Time) (*prekey.Store, error) {
	b, err := tx.Get(keyPrekeys)
	if errors.Is(err, store.ErrNotFound) {
		ps, err := prekey.NewStore(id, now)
		if err != nil {
			return nil, err
		}
		return ps, tx.Set(keyPrekeys, ps.Marshal())
	}
	if err != nil {
		return nil, err
	}
	return prekey.UnmarshalStore(b)
}

// RawPrekeys returns the stored prekey store's bytes (to tell whether a bundle built from
// them is still current).
func RawPrekeys(tx *store.Tx) ([]byte, error) { return tx.Get(keyPrekeys) }

// SavePrekeys stores ps.
func SavePrekeys(tx *store.Tx, ps *prekey.Store) error { return tx.Set(keyPrekeys, ps.Marshal()) }

// LoadIssued returns the one-time prekey ids already handed out and still held by ps.
func LoadIssued(tx *store.Tx, ps *prekey.Store) ([]uint32, error) {
	var issued []uint32
	if b, err := tx.Get(keyIssued); err == nil {
		for i := 0; i+4 <= len(b); i += 4 {
			issued = append(issued, binary.BigEndian.Uint32(b[i:]))
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	held := map[uint32]bool{}
	for _, k := range ps.OneTimePrekeys() {
		held[k.ID()] = true
	}
	for _, k := range ps.PQOneTimePrekeys() {
		held[k.ID()] = true
	}
	return slices.DeleteFunc(issued, func(id uint32) bool { return !held[id] }), nil
}

// SaveIssued stores the ids of the one-time prekeys handed out.
func SaveIssued(tx *store.Tx, issued []uint32) error {
	enc := make([]byte, 0, 4*len(issued))
	for _, id := range issued {
		enc = binary.BigEndian.AppendUint32(enc, id)
	}
	return tx.Set(keyIssued, enc)
}

// TopUp keeps one-time keys of each kind that nobody has been given: when fewer than
// prekey.RefillBelow are left (keys handed out, to contacts or relays, stay held until a
// handshake uses them), it adds keys until prekey.PoolSize are free, then drops the oldest
// handed-out keys past MaxHeld. It returns whether ps changed and the issued ids still held.
func TopUp(id *identity.Identity, now time.Time, ps *prekey.Store, issued []uint32) (bool, []uint32, error) {
	isIssued := make(map[uint32]bool, len(issued))
	for _, id := range issued {
		isIssued[id] = true
	}
	free := func(ids []uint32) int {
		n := 0
		for _, id := range ids {
			if !isIssued[id] {
				n++
			}
		}
		return n
	}
	opks, pqs := IDs(ps)
	freeO, freeP := free(opks), free(pqs)
	if freeO >= prekey.RefillBelow && freeP >= prekey.RefillBelow {
		return false, issued, nil
	}
	addO, addP := max(0, prekey.PoolSize-freeO), max(0, prekey.PoolSize-freeP)
	if _, _, err := ps.Grow(id, now, addO, addP); err != nil {
		return false, nil, err
	}
	// Drop the oldest handed-out keys past the cap (ids grow: ascending is oldest first).
	var drop []uint32
	for _, ids := range [][]uint32{opks, pqs} {
		excess := len(ids) + max(0, prekey.PoolSize-free(ids)) - MaxHeld
		for _, id := range ids {
			if excess <= 0 {
				break
			}
			if isIssued[id] {
				drop = append(drop, id)
				excess--
			}
		}
	}
	if err := ps.Consume(drop); err != nil {
		return false, nil, err
	}
	issued = slices.DeleteFunc(issued, func(id uint32) bool { return slices.Contains(drop, id) })
	return true, issued, nil
}

// IDs are the ids of the one-time keys ps holds, of each kind, ascending.
func IDs(ps *prekey.Store) (opks, pqs []uint32) {
	for _, k := range ps.OneTimePrekeys() {
		opks = append(opks, k.ID())
	}
	for _, k := range ps.PQOneTimePrekeys() {
		pqs = append(pqs, k.ID())
	}
	return opks, pqs
}

// Issue hands out one one-time key of each kind no other requester has been given (the
// last-resort PQ key when the PQ pool has none free) and returns them in a bundle, topping
// the pool up as needed. The keys stay held until a handshake uses them.
func Issue(tx *store.Tx, id *identity.Identity, now time.Time) ([]byte, error) {
	ps, err := LoadPrekeys(tx, id, now)
	if err != nil {
		return nil, err
	}
	issued, err := LoadIssued(tx, ps)
	if err != nil {
		return nil, err
	}
	grown, issued, err := TopUp(id, now, ps, issued)
	if err != nil {
		return nil, err
	}
	var opk *prekey.OneTimePrekey
	for _, k := range ps.OneTimePrekeys() {
		if !slices.Contains(issued, k.ID()) {
			opk = &k
			issued = append(issued, k.ID())
			break
		}
	}
	pq := ps.LastResortPrekey()
	for _, k := range ps.PQOneTimePrekeys() {
		if !slices.Contains(issued, k.ID()) {
			pq = k
			issued = append(issued, k.ID())
			break
		}
	}
	b, err := prekey.NewBundle(ps.Identity(), ps.SignedPrekey(), pq, opk)
	if err != nil {
		return nil, err
	}
	if grown {
		if err := SavePrekeys(tx, ps); err != nil {
			return nil, err
		}
	}
	return b.Marshal(), SaveIssued(tx, issued)
}

// RelayPrekeys are the public prekeys a home relay's directory serves while the node is
// away: the current signed prekey and last-resort PQ key, and one-time keys no one else
// has been given.
type RelayPrekeys struct {
	Signed     prekey.SignedPrekey
	LastResort prekey.PQPrekey
	OneTime    []prekey.OneTimePrekey
	PQOneTime  []prekey.PQPrekey
}

// ForRelay sets aside up to want one-time prekeys of each kind for a relay's directory
// (marked issued, so the node never hands them out itself) and returns them with the
// current signed and last-resort keys. It rotates and refills the store as needed.
func ForRelay(tx *store.Tx, id *identity.Identity, now time.Time, want int) (RelayPrekeys, error) {
	var out RelayPrekeys
	ps, err := LoadPrekeys(tx, id, now)
	if err != nil {
		return out, err
	}
	if ps.NeedsRotation(now) {
		if err := ps.Rotate(id, now); err != nil {
			return out, err
		}
	}
	issued, err := LoadIssued(tx, ps)
	if err != nil {
		return out, err
	}
	// Free keys, not held ones, decide a refill: keys set aside for other relays or handed
	// to contacts stay held until a handshake uses them.
	if _, issued, err = TopUp(id, now, ps, issued); err != nil {
		return out, err
	}
	for _, k := range ps.OneTimePrekeys() {
		if len(out.OneTime) < want && !slices.Contains(issued, k.ID()) {
			out.OneTime = append(out.OneTime, k)
			issued = append(issued, k.ID())
		}
	}
	for _, k := range ps.PQOneTimePrekeys() {
		if len(out.PQOneTime) < want && !slices.Contains(issued, k.ID()) {
			out.PQOneTime = append(out.PQOneTime, k)
			issued = append(issued, k.ID())
		}
	}
	out.Signed, out.LastResort = ps.SignedPrekey(), ps.LastResortPrekey()
	if err := SavePrekeys(tx, ps); err != nil {
		return RelayPrekeys{}, err
	}
	return out, SaveIssued(tx, issued)
}

// CurrentIDs returns, without writing, the ids of the signed and last-resort prekeys a
// relay's directory should hold, and whether they are due to rotate (then ForRelay rotates
// them).
func CurrentIDs(tx *store.Tx, id *identity.Identity, now time.Time) (ids [2]uint32, rotate bool, err error) {
	ps, err := LoadPrekeys(tx, id, now)
	if err != nil {
		return ids, false, err
	}
	return [2]uint32{ps.SignedPrekey().ID(), ps.LastResortPrekey().ID()}, ps.NeedsRotation(now), nil
}
