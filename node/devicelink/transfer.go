package devicelink

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// maxKey bounds one transferred record's key.
const maxKey = 1024

// transferPrefixes are the store records a new device receives, in key order: messages
// and their order (node/history), contacts (node/contacts), groups with their state, log
// and members' current receiving keys (node/groups), contacts' verified device lists
// (node/devices dc/), the profile (cfg/profile: the account's display name), attachments (node/media media/f/, media/fm/,
// media/m/, media/r/: files with their keys, media and the messages using them; and the
// chunks themselves as mediaChunkPrefix records, except over a limited connection) and the
// settings. Read marks travel in
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
	[]byte(mediaChunkPrefix), []byte("media/f/"), []byte("media/fm/"), []byte("media/m/"), []byte("media/r/"),
	[]byte("mo/"), []byte("ms/"), []byte(sealedPrefix),
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

// sealedPrefix is where disappearing messages keep their content, sealed under a bucket
// key of this node's own (node/history KeySealed, node/shredkeys): the primary sends it
// opened (ServerConfig.Open) and the new device seals it again under its own buckets
// (JoinOptions.Seal); the Noise stream is the only wrapping it has in between.
var sealedPrefix = string(history.KeySealed(""))

// sealedMedia reports a node/media record (media/f/, media/m/) sealed under a bucket key
// of this node's own, as the records of media only disappearing messages use are (its
// JSON records start with '{'): it is sent opened, like sealedPrefix's.
func sealedMedia(k, v []byte) bool {
	return (bytes.HasPrefix(k, []byte("media/f/")) || bytes.HasPrefix(k, []byte("media/m/"))) && len(v) > 0 && v[0] != '{'
}

// mediaChunkPrefix names the chunk ciphertexts of the media in the transfer: records
// "media/c/<media id>/<8-digit index>/<4-digit piece>" carry one sealed chunk (node/media;
// the chunks of the media, then of its thumbnail) in pieces (pieces.go). They are not store records: the primary reads them
// through ServerConfig.MediaChunks and the new device writes them with JoinOptions.PutChunk.
const mediaChunkPrefix = "media/c/"

// Opener opens a record sealed under this node's own keys (sealedPrefix) for the
// transfer; false when it cannot be (its key destroyed).
type Opener func(key, sealed []byte) ([]byte, bool)

// MediaChunks calls fn with each sealed chunk of media id, in order (node/media
// SealedChunks); it returns nil without calling fn for a media id whose file is not here.
type MediaChunks func(id string, fn func(ct []byte) error) error

var errChunkFull = errors.New("devicelink: chunk full")

// nextChunk reads the transferred records after the key `after` (all of them from the
// start when empty), in key order, until about target bytes, and says whether they
// are the last. media, when not nil, supplies the media chunks (mediaChunkPrefix).
func nextChunk(st *store.Store, after []byte, target int, media MediaChunks, open Opener) (recs []record, done bool, err error) {
	size := 0
	add := func(k, v []byte) error {
		if bytes.Compare(k, after) <= 0 || !Transferred(k) || len(k) > maxKey || len(v) > maxFrame-2*maxKey {
			return nil
		}
		if bytes.HasPrefix(k, []byte(sealedPrefix)) || sealedMedia(k, v) {
			if open == nil {
				return nil
			}
			pt, ok := open(k, v)
			if !ok {
				return nil // shredded or expired: nothing to hand over
			}
			v = pt
		}
		if len(recs) == maxChunkRecs || (size > 0 && size+len(k)+len(v) > target) {
			return errChunkFull
		}
		recs = append(recs, record{Key: k, Value: bytes.Clone(v)})
		size += len(k) + len(v) + 8
		return nil
	}
	for _, p := range transferPrefixes {
		if len(after) > 0 && bytes.Compare(after, p) >= 0 && !bytes.HasPrefix(after, p) {
			continue // this prefix lies wholly before the cursor
		}
		if string(p) == mediaChunkPrefix {
			err = mediaRecords(st, after, media, add)
		} else {
			err = st.View(func(tx *store.Tx) error {
				opt := store.IterOptions{Prefix: p}
				if bytes.HasPrefix(after, p) {
					opt.Start = after
				}
				return tx.Iterate(opt, func(k, v []byte) (bool, error) { return true, add(k, v) })
			})
		}
		if errors.Is(err, errChunkFull) {
			return recs, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	return recs, true, nil
}

// mediaRecords adds the media chunks after `after`, media id by media id.
func mediaRecords(st *store.Store, after []byte, media MediaChunks, add func(k, v []byte) error) error {
	if media == nil {
		return nil
	}
	var ids []string
	err := st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("media/m/"), KeysOnly: true}, func(k, _ []byte) (bool, error) {
			ids = append(ids, string(k[len("media/m/"):]))
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	// In the order of their records' keys (an id that begins another must not break it).
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	for _, id := range ids {
		base := mediaChunkPrefix + id + "/"
		if last := base + "99999999"; bytes.Compare([]byte(last), after) <= 0 {
			continue // sent before the cursor
		}
		i := 0
		err := media(id, func(ct []byte) error {
			defer func() { i++ }()
			// In pieces (pieces.go): a 1 MiB chunk does not fit one relay circuit.
			for p, off := 0, 0; off < len(ct) || p == 0; p++ {
				end := min(off+pieceSize, len(ct))
				flag := pieceMore
				if end == len(ct) {
					flag = pieceLast
				}
				k := []byte(fmt.Sprintf("%s%08d/%04d", base, i, p))
				if err := add(k, append([]byte{flag}, ct[off:end]...)); err != nil {
					return err
				}
				off = end
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
