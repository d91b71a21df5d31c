package media

import (
	"encoding/hex"
	"fmt"

	"github.com/petrel-chat/petrel/node/store"
)

// Record keys (doc.go, "Records"). Values are JSON with a version field "v", sealed by
// node/store like every record.
const (
	keyFile   = "media/f/"  // media/f/<file id hex>            → fileRecord
	keyMedia  = "media/m/"  // media/m/<media id>                → mediaRecord
	keySum    = "media/h/"  // media/h/<plaintext sha256 hex>    → file id hex (local files)
	keyUpload = "media/u/"  // media/u/<upload id>               → uploadRecord
	keyTail   = "media/t/"  // media/t/<upload id>               → the upload's unsealed tail (≤ one chunk)
	keyRef    = "media/r/"  // media/r/<media id>/<message id>   → empty
	keyOnFile = "media/fm/" // media/fm/<file id hex>/<media id> → empty
)

const recordVersion = 1

// File states.
const (
	stateAvailable   = "available"
	stateDownloading = "downloading"
	stateFailed      = "failed"
)

// fileRecord is one encrypted file: its key and chunk hashes.
type fileRecord struct {
	V      int    `json:"v"`
	Key    []byte `json:"key"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
	Chunks []byte `json:"chunks"` // the chunk hashes, 32 bytes each, in order
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Local  bool   `json:"local,omitempty"` // uploaded on this node (in the sha256 index)
}

func (f *fileRecord) hash(i int) Hash {
	var h Hash
	copy(h[:], f.Chunks[i*32:])
	return h
}

func (f *fileRecord) count() int { return len(f.Chunks) / 32 }

// mediaRecord is one media id: a file with a name and type (several may share a file).
type mediaRecord struct {
	V          int    `json:"v"`
	File       string `json:"file"`
	Name       string `json:"name"`
	MIME       string `json:"mime"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Thumb      string `json:"thumb,omitempty"`  // the thumbnail's media id
	Parent     string `json:"parent,omitempty"` // for a thumbnail: the media it belongs to
	Created    int64  `json:"created"`          // Unix ms
}

// uploadRecord is a resumable upload session. Hashes and Sum cover the chunks sealed so
// far (Sealed bytes); the bytes after them are the tail record.
type uploadRecord struct {
	V       int    `json:"v"`
	File    string `json:"file"`
	Key     []byte `json:"key"`
	Length  int64  `json:"length"`
	Name    string `json:"name"`
	MIME    string `json:"mime"`
	Sealed  int64  `json:"sealed"`
	Chunks  []byte `json:"chunks"`
	Sum     []byte `json:"sum"` // the SHA-256 state over the sealed bytes (MarshalBinary)
	Created int64  `json:"created"`
	Media   string `json:"media,omitempty"` // set once complete
	// SealedTail: the tail record is sealed under a bucket key (sealed.go), as is this
	// record until the upload completes.
	SealedTail bool `json:"sealed_tail,omitempty"`
}

func fileKey(id FileID) []byte        { return []byte(keyFile + id.String()) }
func mediaKey(id string) []byte       { return []byte(keyMedia + id) }
func uploadKey(id string) []byte      { return []byte(keyUpload + id) }
func tailKey(id string) []byte        { return []byte(keyTail + id) }
func sumKey(sum []byte) []byte        { return []byte(keySum + hex.EncodeToString(sum)) }
func refKey(media, msg string) []byte { return []byte(keyRef + media + "/" + msg) }
func refPrefix(media string) []byte   { return []byte(keyRef + media + "/") }
func onFileKey(f FileID, media string) []byte {
	return []byte(keyOnFile + f.String() + "/" + media)
}
func onFilePrefix(f FileID) []byte { return []byte(keyOnFile + f.String() + "/") }

func parseFileID(s string) (FileID, error) {
	var f FileID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != FileIDSize {
		return f, fmt.Errorf("%w: file id", ErrNotFound)
	}
	copy(f[:], b)
	return f, nil
}

func (m *Store) getFile(tx *store.Tx, id FileID) (*fileRecord, error) {
	var f fileRecord
	ok, err := m.getRec(tx, fileKey(id), &f)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: file", ErrNotFound)
	}
	if f.V != recordVersion {
		return nil, fmt.Errorf("media: file record version %d", f.V)
	}
	return &f, nil
}

func (m *Store) getMedia(tx *store.Tx, id string) (*mediaRecord, error) {
	if id == "" || len(id) > 64 {
		return nil, fmt.Errorf("%w: media id", ErrNotFound)
	}
	var md mediaRecord
	ok, err := m.getRec(tx, mediaKey(id), &md)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: media %q", ErrNotFound, id)
	}
	if md.V != recordVersion {
		return nil, fmt.Errorf("media: media record version %d", md.V)
	}
	return &md, nil
}

func (m *Store) getUpload(tx *store.Tx, id string) (*uploadRecord, error) {
	if id == "" || len(id) > 64 {
		return nil, fmt.Errorf("%w: upload id", ErrNotFound)
	}
	var u uploadRecord
	ok, err := m.getRec(tx, uploadKey(id), &u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: upload %q", ErrNotFound, id)
	}
	if u.V != recordVersion {
		return nil, fmt.Errorf("media: upload record version %d", u.V)
	}
	return &u, nil
}

// hasPrefix reports whether any key starts with p.
func hasPrefix(tx *store.Tx, p []byte) (bool, error) {
	found := false
	err := tx.Iterate(store.IterOptions{Prefix: p, KeysOnly: true}, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// keysUnder returns the last path element of every key under p.
func keysUnder(tx *store.Tx, p []byte) ([]string, error) {
	var out []string
	err := tx.Iterate(store.IterOptions{Prefix: p, KeysOnly: true}, func(k, _ []byte) (bool, error) {
		out = append(out, string(k[len(p):]))
		return true, nil
	})
	return out, err
}
