package mediarec

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/node/store"
)

// Record keys (doc.go).
const (
	KeyFile   = "media/f/"
	KeyMedia  = "media/m/"
	KeySum    = "media/h/"
	KeyUpload = "media/u/"
	KeyTail   = "media/t/"
	KeyRef    = "media/r/"
	KeyOnFile = "media/fm/"
)

// Version is the records' version field.
const Version = 1

// File states.
const (
	StateAvailable   = "available"
	StateDownloading = "downloading"
	StateFailed      = "failed"
)

// ErrNotFound: no media, upload or file with that id (node/media.ErrNotFound).
var ErrNotFound = errors.New("media: not found")

// File is one encrypted file: its key and chunk hashes.
type File struct {
	V      int    `json:"v"`
	Key    []byte `json:"key"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
	Chunks []byte `json:"chunks"` // the chunk hashes, 32 bytes each, in order
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Local  bool   `json:"local,omitempty"` // uploaded on this node (in the sha256 index)
}

// Hash is the hash of chunk i.
func (f *File) Hash(i int) [32]byte {
	var h [32]byte
	copy(h[:], f.Chunks[i*32:])
	return h
}

// Count is the number of chunks.
func (f *File) Count() int { return len(f.Chunks) / 32 }

// Media is one media id: a file with a name and type (several may share a file).
type Media struct {
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

// Upload is a resumable upload session. Chunks and Sum cover the chunks sealed so far
// (Sealed bytes); the bytes after them are the tail record.
type Upload struct {
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
	// SealedTail: the tail record is sealed under a bucket key, as is this record until
	// the upload completes (doc.go).
	SealedTail bool `json:"sealed_tail,omitempty"`
}

// Keys of the records (file ids in hex).
func FileKey(fid string) []byte          { return []byte(KeyFile + fid) }
func MediaKey(id string) []byte          { return []byte(KeyMedia + id) }
func UploadKey(id string) []byte         { return []byte(KeyUpload + id) }
func TailKey(id string) []byte           { return []byte(KeyTail + id) }
func SumKey(sum []byte) []byte           { return []byte(KeySum + hex.EncodeToString(sum)) }
func RefKey(media, msg string) []byte    { return []byte(KeyRef + media + "/" + msg) }
func RefPrefix(media string) []byte      { return []byte(KeyRef + media + "/") }
func OnFileKey(fid, media string) []byte { return []byte(KeyOnFile + fid + "/" + media) }
func OnFilePrefix(fid string) []byte     { return []byte(KeyOnFile + fid + "/") }

// HasPrefix reports whether any key starts with p.
func HasPrefix(tx *store.Tx, p []byte) (bool, error) {
	found := false
	err := tx.Iterate(store.IterOptions{Prefix: p, KeysOnly: true}, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// KeysUnder returns the last path element of every key under p.
func KeysUnder(tx *store.Tx, p []byte) ([]string, error) {
	var out []string
	err := tx.Iterate(store.IterOptions{Prefix: p, KeysOnly: true}, func(k, _ []byte) (bool, error) {
		out = append(out, string(k[len(p):]))
		return true, nil
	})
	return out, err
}

// Ref records that message msgID refers to media id, as a message without a timer until
// Records.RefUntil says otherwise. An unknown media id is ErrNotFound.
func Ref(tx *store.Tx, id, msgID string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: media id", ErrNotFound)
	}
	if _, err := tx.Get(MediaKey(id)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: media %q", ErrNotFound, id)
	} else if err != nil {
		return err
	}
	if msgID == "" || len(msgID) > 128 {
		return fmt.Errorf("media: ref: bad message id")
	}
	return tx.Set(RefKey(id, msgID), nil)
}

// Unref removes message msgID's reference to media id.
func Unref(tx *store.Tx, id, msgID string) error { return tx.Delete(RefKey(id, msgID)) }

// GetFile reads file record fid (hex).
func (r Records) GetFile(tx *store.Tx, fid string) (*File, error) {
	var f File
	ok, err := r.getRec(tx, FileKey(fid), &f)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: file", ErrNotFound)
	}
	if f.V != Version {
		return nil, fmt.Errorf("media: file record version %d", f.V)
	}
	return &f, nil
}

// GetMedia reads media record id.
func (r Records) GetMedia(tx *store.Tx, id string) (*Media, error) {
	if id == "" || len(id) > 64 {
		return nil, fmt.Errorf("%w: media id", ErrNotFound)
	}
	var md Media
	ok, err := r.getRec(tx, MediaKey(id), &md)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: media %q", ErrNotFound, id)
	}
	if md.V != Version {
		return nil, fmt.Errorf("media: media record version %d", md.V)
	}
	return &md, nil
}

// GetUpload reads upload record id.
func (r Records) GetUpload(tx *store.Tx, id string) (*Upload, error) {
	if id == "" || len(id) > 64 {
		return nil, fmt.Errorf("%w: upload id", ErrNotFound)
	}
	var u Upload
	ok, err := r.getRec(tx, UploadKey(id), &u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: upload %q", ErrNotFound, id)
	}
	if u.V != Version {
		return nil, fmt.Errorf("media: upload record version %d", u.V)
	}
	return &u, nil
}
