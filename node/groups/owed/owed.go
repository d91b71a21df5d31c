package owed

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Rec is what we owe one member of one group.
type Rec struct {
	Contact bool     `json:"contact,omitempty"` // make them a (group-only) contact first
	Key     string   `json:"key,omitempty"`     // our sender key as of then: a gs/ snapshot
	Ops     []string `json:"ops,omitempty"`     // operations (go/ keys) to send
	All     bool     `json:"all,omitempty"`     // the whole log (they are new)
	Probed  bool     `json:"probed,omitempty"`  // the gsync that precedes the log is queued
}

// Empty says whether nothing is owed any more.
func (f *Rec) Empty() bool { return !f.Contact && f.Key == "" && len(f.Ops) == 0 && !f.All }

// Snapshot is our sender key as it was when it was owed (a gkey content's data and gseq).
type Snapshot struct {
	Data []byte `json:"data"`
	GSeq uint64 `json:"gseq"`
}

func kFanPrefix() []byte             { return []byte("gf/") }
func kFan(gid, uid string) []byte    { return []byte("gf/" + gid + "/" + uid) }
func kKeySnap(gid, id string) []byte { return []byte("gs/" + gid + "/" + id) }
func kKeySnapPrefix(gid string) []byte {
	return []byte("gs/" + gid + "/")
}

// Owe merges what change adds into what we owe member uid of gid.
func Owe(tx *store.Tx, gid, uid string, change func(*Rec)) error {
	var f Rec
	if _, err := store.GetJSON(tx, kFan(gid, uid), &f); err != nil {
		return err
	}
	change(&f)
	if f.All {
		f.Ops = nil // the log holds them
	}
	return store.PutJSON(tx, kFan(gid, uid), &f)
}

// Put replaces what we owe member uid of gid with f, or deletes the record when f is nil.
func Put(tx *store.Tx, gid, uid string, f *Rec) error {
	if f == nil {
		return tx.Delete(kFan(gid, uid))
	}
	return store.PutJSON(tx, kFan(gid, uid), f)
}

// Each calls fn with every member owed something, in key order (group id, then user id),
// until fn returns false.
func Each(tx *store.Tx, fn func(gid, uid string, f *Rec) (bool, error)) error {
	return each(tx, kFanPrefix(), fn)
}

func each(tx *store.Tx, prefix []byte, fn func(gid, uid string, f *Rec) (bool, error)) error {
	return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
		gid, uid, ok := strings.Cut(string(k[len(kFanPrefix()):]), "/")
		if !ok {
			return true, nil
		}
		var f Rec
		if err := json.Unmarshal(v, &f); err != nil {
			return false, fmt.Errorf("groups: record %s: %w", store.KeyPrefix(k), err)
		}
		return fn(gid, uid, &f)
	})
}

// SnapKey saves key (a gkey content of ours) for the members it is owed to and returns its
// name.
func SnapKey(tx *store.Tx, gid string, key *wire.Content) (string, error) {
	id := api.NewID("k")
	return id, store.PutJSON(tx, kKeySnap(gid, id), &Snapshot{Data: key.Data, GSeq: key.GSeq})
}

// LoadSnap loads snapshot id of gid; ok is false when there is none.
func LoadSnap(tx *store.Tx, gid, id string) (k Snapshot, ok bool, err error) {
	ok, err = store.GetJSON(tx, kKeySnap(gid, id), &k)
	return k, ok, err
}

// DropUnowedSnaps deletes gid's key snapshots once no member is owed one.
func DropUnowedSnaps(tx *store.Tx, gid string) error {
	owed := map[string]bool{}
	err := each(tx, kFan(gid, ""), func(_, _ string, f *Rec) (bool, error) {
		owed[f.Key] = true
		return true, nil
	})
	if err != nil {
		return err
	}
	var drop [][]byte
	err = tx.Iterate(store.IterOptions{Prefix: kKeySnapPrefix(gid)}, func(k, _ []byte) (bool, error) {
		if !owed[string(k[len(kKeySnapPrefix(gid)):])] {
			drop = append(drop, append([]byte(nil), k...))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
