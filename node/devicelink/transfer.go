package devicelink

import (
	"bytes"

	"github.com/petrel-chat/petrel/node/store"
)

// maxKey bounds one transferred record's key.
const maxKey = 1024

// transferPrefixes are the store records a new device receives, in key order: messages
// and their order (node/history), contacts (node/contacts), groups with their state, log
// and members' current receiving keys (node/groups), contacts' verified device lists
// (node/devices dc/), the profile (cfg/profile: the account's display name), media references (node/media media/m/ and
// media/r/: the media and the messages using them; not yet media/f/, the file keys, nor the
// chunks, so a transferred attachment does not open on the new device) and the settings. Read marks travel in
// the conversation records. Never transferred: the identity and peer keys (cfg/identity, cfg/p2pkey), the API
// token, ratchet sessions (ss/, sc/), prekeys (pk, pki), our own group sending chains
// (gk/), outboxes, inboxes and this package's own records (dl/).
var transferPrefixes = [][]byte{
	[]byte("cfg/profile"),
	[]byte("cp/"), []byte("ct/"), []byte("cu/"),
	[]byte("cv/"),
	[]byte("dc/"),
	[]byte("gm/"), []byte("gn/"), []byte("go/"), []byte("gq/"), []byte("gr/"), []byte("gx/"),
	[]byte("mc/"),
	[]byte("media/m/"), []byte("media/r/"),
	[]byte("mo/"), []byte("ms/"),
	[]byte("settings"),
}

// Transferred reports whether a store key belongs to the history a new device receives.
func Transferred(key []byte) bool {
	for _, p := range transferPrefixes {
		if bytes.HasPrefix(key, p) {
			if p[len(p)-1] != '/' { // a single record ("cfg/profile", "settings")
				return len(key) == len(p)
			}
			return true
		}
	}
	return false
}

// nextChunk reads the transferred records after the key `after` (all of them from the
// start when empty), in key order, until about target bytes, and says whether they
// are the last.
func nextChunk(st *store.Store, after []byte, target int) (recs []record, done bool, err error) {
	size := 0
	full := false
	err = st.View(func(tx *store.Tx) error {
		for _, p := range transferPrefixes {
			if full {
				return nil
			}
			if len(after) > 0 && bytes.Compare(after, p) >= 0 && !bytes.HasPrefix(after, p) {
				continue // this prefix lies wholly before the cursor
			}
			opt := store.IterOptions{Prefix: p}
			if bytes.HasPrefix(after, p) {
				opt.Start = after
			}
			err := tx.Iterate(opt, func(k, v []byte) (bool, error) {
				if bytes.Equal(k, after) || !Transferred(k) || len(k) > maxKey || len(v) > maxFrame-2*maxKey {
					return true, nil
				}
				if len(recs) == maxChunkRecs || (size > 0 && size+len(k)+len(v) > target) {
					full = true
					return false, nil
				}
				recs = append(recs, record{Key: k, Value: v})
				size += len(k) + len(v) + 8
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return recs, !full, nil
}
