package media

import (
	"bytes"
	"context"
	"fmt"

	"github.com/petrel-chat/petrel/node/media/filemeta"
	"github.com/petrel-chat/petrel/node/store"
)

// Manifest is what a message carries for one attachment: everything a receiver needs to
// fetch, verify and decrypt the file. It holds the file key: it travels only inside
// end-to-end encrypted messages.
type Manifest struct {
	File       FileID    `json:"file"`
	Key        []byte    `json:"key"`
	Size       int64     `json:"size"`
	SHA256     []byte    `json:"sha256"`
	Chunks     []Hash    `json:"chunks"`
	Name       string    `json:"name"`
	MIME       string    `json:"mime"`
	Width      int       `json:"width,omitempty"`
	Height     int       `json:"height,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Thumbnail  *Manifest `json:"thumbnail,omitempty"`
}

// check reports a manifest that cannot describe a file (ErrBadManifest) or one over the
// size limit (ErrTooLarge), before anything is stored or fetched.
func (mf *Manifest) check(limit int64, nested bool) error {
	switch {
	case mf.Size < 0:
		return fmt.Errorf("%w: negative size", ErrBadManifest)
	case mf.Size > limit:
		return fmt.Errorf("%w: a sender claims %d bytes, limit %d", ErrTooLarge, mf.Size, limit)
	case len(mf.Key) != keySize:
		return fmt.Errorf("%w: key of %d bytes", ErrBadManifest, len(mf.Key))
	case len(mf.SHA256) != 32:
		return fmt.Errorf("%w: sha256 of %d bytes", ErrBadManifest, len(mf.SHA256))
	case len(mf.Chunks) != chunkCount(mf.Size):
		return fmt.Errorf("%w: %d chunk hashes for %d bytes", ErrBadManifest, len(mf.Chunks), mf.Size)
	case mf.Thumbnail != nil && nested:
		return fmt.Errorf("%w: a thumbnail with a thumbnail", ErrBadManifest)
	case mf.Thumbnail != nil:
		return mf.Thumbnail.check(min(limit, 1<<20), true)
	}
	return nil
}

// Manifest returns the manifest of an available media id (with its thumbnail's), for a
// message that carries it.
func (m *Store) Manifest(tx *store.Tx, id string) (Manifest, error) {
	mf, err := m.manifest(tx, id)
	if err != nil {
		return Manifest{}, err
	}
	md, _ := m.getMedia(tx, id)
	if md.Thumb != "" {
		t, err := m.manifest(tx, md.Thumb)
		if err != nil {
			return Manifest{}, fmt.Errorf("media: thumbnail: %w", err)
		}
		mf.Thumbnail = &t
	}
	return mf, nil
}

func (m *Store) manifest(tx *store.Tx, id string) (Manifest, error) {
	md, err := m.getMedia(tx, id)
	if err != nil {
		return Manifest{}, err
	}
	fid, err := parseFileID(md.File)
	if err != nil {
		return Manifest{}, err
	}
	f, err := m.getFile(tx, fid)
	if err != nil {
		return Manifest{}, err
	}
	if f.State != stateAvailable {
		return Manifest{}, fmt.Errorf("%w: %s", ErrNotAvailable, f.State)
	}
	mf := Manifest{File: fid, Key: f.Key, Size: f.Size, SHA256: f.SHA256, Name: md.Name, MIME: md.MIME,
		Width: md.Width, Height: md.Height, DurationMS: md.DurationMS}
	for i := range f.Count() {
		mf.Chunks = append(mf.Chunks, f.Hash(i))
	}
	return mf, nil
}

// receivedID is the local media id of a received file: one per file id, so a manifest
// added twice (a message and its retry) is one download.
func receivedID(f FileID) string { return "mr" + idEncoding.EncodeToString(f[:]) }

// Add records the file a received message describes, in state downloading (nothing is
// fetched yet), and returns its local media id; its thumbnail, if any, is added too. A
// manifest over MaxSize is ErrTooLarge, one that is not self-consistent ErrBadManifest:
// neither is stored. Adding a known file returns its media id unchanged.
func (m *Store) Add(ctx context.Context, mf Manifest) (string, error) {
	var id string
	err := m.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		id, err = m.AddTx(tx, mf)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("media: add: %w", err)
	}
	return id, nil
}

// AddTx is Add in the caller's transaction (a received message records its attachments
// and refers to them in the same transaction).
func (m *Store) AddTx(tx *store.Tx, mf Manifest) (string, error) {
	if err := mf.check(m.opts.MaxSize, false); err != nil {
		return "", err
	}
	id := receivedID(mf.File)
	thumb := ""
	if mf.Thumbnail != nil {
		thumb = receivedID(mf.Thumbnail.File)
		if err := m.addFile(tx, *mf.Thumbnail, thumb, id, m.opts.Now().UnixMilli()); err != nil {
			return "", err
		}
	}
	md := &mediaRecord{V: recordVersion, Name: filemeta.CleanName(mf.Name), MIME: filemeta.ChooseMIME(mf.MIME, ""),
		Width: mf.Width, Height: mf.Height, DurationMS: mf.DurationMS, Thumb: thumb}
	if filemeta.Sniffable(mf.MIME) {
		md.MIME = mf.MIME // checked against the bytes once they are here
	}
	if err := m.addFile(tx, mf, id, "", m.opts.Now().UnixMilli(), md); err != nil {
		return "", err
	}
	return id, nil
}

func (m *Store) addFile(tx *store.Tx, mf Manifest, id, parent string, now int64, md ...*mediaRecord) error {
	if f, err := m.getFile(tx, mf.File); err == nil && !describes(f, mf) {
		return fmt.Errorf("%w: file %s", ErrFileConflict, mf.File)
	}
	if _, err := m.getMedia(tx, id); err == nil {
		return nil
	}
	rec := &mediaRecord{V: recordVersion, Name: filemeta.CleanName(mf.Name), MIME: "image/jpeg", Parent: parent,
		Width: mf.Width, Height: mf.Height}
	if len(md) > 0 {
		rec = md[0]
	}
	rec.File, rec.Created = mf.File.String(), now
	if err := tx.Set(onFileKey(mf.File, id), nil); err != nil {
		return err
	}
	// Sealed under the Pending bucket of now (with a sealer) until the message that
	// carried it says how long it lasts (RefUntil).
	if err := m.putMedia(tx, id, rec); err != nil {
		return err
	}
	if _, err := m.getFile(tx, mf.File); err != nil {
		f := &fileRecord{V: recordVersion, Key: mf.Key, Size: mf.Size, SHA256: mf.SHA256, State: stateDownloading}
		for _, h := range mf.Chunks {
			f.Chunks = append(f.Chunks, h[:]...)
		}
		return m.putFile(tx, mf.File, f)
	}
	return nil
}

// describes reports whether mf describes the file f is: the same key, size, SHA-256 and
// chunk hashes.
func describes(f *fileRecord, mf Manifest) bool {
	if len(f.Chunks) != len(mf.Chunks)*len(Hash{}) || f.Size != mf.Size ||
		!bytes.Equal(f.Key, mf.Key) || !bytes.Equal(f.SHA256, mf.SHA256) {
		return false
	}
	for i, h := range mf.Chunks {
		if f.Hash(i) != h {
			return false
		}
	}
	return true
}

// SealedChunks calls fn with each chunk ciphertext of an available media id (and then of its
// thumbnail), in order: what a sender leaves in a relay blob store, where each is named by
// its hash. ct is valid only during the call.
func (m *Store) SealedChunks(id string, fn func(h Hash, ct []byte) error) error {
	var files []*fileRecord
	err := m.db.View(func(tx *store.Tx) error {
		for _, mid := range []string{id, ""} {
			if mid == "" {
				md, err := m.getMedia(tx, id)
				if err != nil || md.Thumb == "" {
					return err
				}
				mid = md.Thumb
			}
			md, err := m.getMedia(tx, mid)
			if err != nil {
				return err
			}
			fid, err := parseFileID(md.File)
			if err != nil {
				return err
			}
			f, err := m.getFile(tx, fid)
			if err != nil {
				return err
			}
			if f.State != stateAvailable {
				return fmt.Errorf("%w: %s", ErrNotAvailable, f.State)
			}
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var buf []byte
	for _, f := range files {
		for i := range f.Count() {
			ct, err := m.blobs.Get(f.Hash(i), buf)
			if err != nil {
				return err
			}
			buf = ct
			if err := fn(f.Hash(i), ct); err != nil {
				return err
			}
		}
	}
	return nil
}
