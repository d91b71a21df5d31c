package devicelink

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/node/store"
)

// Media chunks travel in pieces: a sealed chunk is up to 1 MiB, more than a relay circuit
// carries (128 KiB by default), so the transfer cuts it into pieces of pieceSize, records
// "media/c/<media id>/<8-digit index>/<4-digit piece>" whose value is a flag byte
// (pieceMore, or pieceLast on the chunk's last piece) and the piece. The new device keeps
// the pieces of a chunk not yet complete in its store (pieceStage), so a transfer cut in
// the middle of a chunk resumes with the next piece, and writes the chunk (PutChunk) once
// its last piece is in.
const (
	pieceSize      = 16 << 10
	pieceMore byte = 0x00
	pieceLast byte = 0x01
	// maxPieces bounds the pieces of one chunk a new device keeps (2 MiB: more than a
	// sealed chunk).
	maxPieces = 128
)

// pieceStage is where a new device keeps the pieces of an incomplete chunk:
// "dl/p/<media id>/<8-digit index>/<4-digit piece>".
const pieceStage = "dl/p/"

// chunkOf splits a piece record's key into its chunk ("<media id>/<index>") and reports
// whether the key names a piece (false: a whole chunk, as an older primary sent them).
func chunkOf(key []byte) (chunk []byte, ok bool) {
	tail := key[len(mediaChunkPrefix):]
	i := bytes.LastIndexByte(tail, '/')
	if i < 0 || len(tail)-i-1 != 4 {
		return nil, false
	}
	j := bytes.LastIndexByte(tail[:i], '/')
	if j < 0 || i-j-1 != 8 {
		return nil, false
	}
	return tail[:i], true
}

// pieces assembles the media chunks whose last piece is among recs (a chunk's earlier
// pieces from recs or from the store, kept by earlier chunks of the transfer), and says
// which pieces to keep (stage) for the chunks still incomplete and which chunks to
// forget the kept pieces of (done).
func pieces(st *store.Store, recs []record) (chunks [][]byte, stage []record, done [][]byte, err error) {
	batch := map[string][][]byte{}
	for _, r := range recs {
		if !bytes.HasPrefix(r.Key, []byte(mediaChunkPrefix)) {
			continue
		}
		ch, ok := chunkOf(r.Key)
		if !ok {
			continue
		}
		if len(r.Value) == 0 || r.Value[0] != pieceMore && r.Value[0] != pieceLast {
			return nil, nil, nil, fmt.Errorf("%w: media piece %q", ErrMalformed, r.Key)
		}
		k := string(ch)
		batch[k] = append(batch[k], r.Value[1:])
		if len(batch[k]) > maxPieces {
			return nil, nil, nil, fmt.Errorf("%w: media chunk %q in over %d pieces", ErrMalformed, ch, maxPieces)
		}
		if r.Value[0] == pieceMore {
			stage = append(stage, record{Key: []byte(pieceStage + string(r.Key[len(mediaChunkPrefix):])), Value: r.Value[1:]})
			continue
		}
		var whole []byte
		err := st.View(func(tx *store.Tx) error {
			n := 0
			return tx.Iterate(store.IterOptions{Prefix: []byte(pieceStage + k + "/")}, func(_, v []byte) (bool, error) {
				if n++; n > maxPieces {
					return false, errors.New("devicelink: too many kept pieces")
				}
				whole = append(whole, v...)
				return true, nil
			})
		})
		if err != nil {
			return nil, nil, nil, err
		}
		for _, p := range batch[k] {
			whole = append(whole, p...)
		}
		chunks, done = append(chunks, whole), append(done, ch)
		delete(batch, k)
		// The staged pieces of this batch for it are written and removed at once: drop them.
		stage = dropStaged(stage, k)
	}
	return chunks, stage, done, nil
}

// dropStaged removes from stage the pieces of chunk ch.
func dropStaged(stage []record, ch string) []record {
	pfx := []byte(pieceStage + ch + "/")
	out := stage[:0]
	for _, r := range stage {
		if !bytes.HasPrefix(r.Key, pfx) {
			out = append(out, r)
		}
	}
	return out
}
