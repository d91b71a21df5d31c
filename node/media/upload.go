package media

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"io"

	"github.com/petrel-chat/petrel/node/store"
)

// Upload describes a resumable upload session.
type Upload struct {
	ID     string
	Length int64
	Offset int64
	Name   string
	MIME   string
	// MediaID is set once the upload is complete.
	MediaID string
}

// Create starts a resumable upload of length bytes. Over MaxSize is ErrTooLarge.
func (m *Store) Create(ctx context.Context, length int64, name, mime string) (string, error) {
	if length < 0 {
		return "", fmt.Errorf("%w: negative length", ErrBeyondLength)
	}
	if length > m.opts.MaxSize {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, length, m.opts.MaxSize)
	}
	fid, key := newFile()
	sum, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return "", err
	}
	id := newID("up")
	u := &uploadRecord{V: recordVersion, File: fid.String(), Key: key, Length: length, Name: name, MIME: mime,
		Sum: sum, Created: m.opts.Now().UnixMilli(), SealedTail: m.opts.Sealer != nil}
	if err := m.db.Update(ctx, func(tx *store.Tx) error { return m.rec.PutUpload(tx, id, u) }); err != nil {
		return "", fmt.Errorf("media: create upload: %w", err)
	}
	return id, nil
}

// Offset describes an upload: its durable offset (every byte below it survives a crash
// and a restart) and, once complete, its media id.
func (m *Store) Offset(id string) (Upload, error) {
	var up Upload
	err := m.db.View(func(tx *store.Tx) error {
		u, err := m.getUpload(tx, id)
		if err != nil {
			return err
		}
		tail, err := m.rec.Tail(tx, id, u)
		if err != nil {
			return err
		}
		up = Upload{ID: id, Length: u.Length, Offset: u.Sealed + int64(len(tail)), Name: u.Name, MIME: u.MIME, MediaID: u.Media}
		if u.Media != "" {
			up.Offset = u.Length
		}
		return nil
	})
	return up, err
}

func (m *Store) lockUpload(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writing[id] {
		return ErrBusy
	}
	m.writing[id] = true
	return nil
}

func (m *Store) unlockUpload(id string) {
	m.mu.Lock()
	delete(m.writing, id)
	m.mu.Unlock()
}

// resume rebuilds an upload's writer from its records.
func (m *Store) resume(id string) (*uploadRecord, *fileWriter, error) {
	var u *uploadRecord
	var tail []byte
	err := m.db.View(func(tx *store.Tx) error {
		var err error
		if u, err = m.getUpload(tx, id); err != nil {
			return err
		}
		tail, err = m.rec.Tail(tx, id, u)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if u.Media != "" {
		return u, nil, nil
	}
	fid, err := parseFileID(u.File)
	if err != nil {
		return nil, nil, err
	}
	w, err := m.newFileWriter(fid, u.Key, u.Length)
	if err != nil {
		return nil, nil, err
	}
	if len(u.Chunks)%32 != 0 || len(tail) > ChunkSize {
		return nil, nil, fmt.Errorf("media: upload %s: inconsistent record", id)
	}
	for i := 0; i < len(u.Chunks); i += 32 {
		w.hashes = append(w.hashes, Hash(u.Chunks[i:i+32]))
	}
	w.nsealed = u.Sealed
	if err := w.sum.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.Sum); err != nil {
		return nil, nil, fmt.Errorf("media: upload %s: hash state: %w", id, err)
	}
	w.buf = append(w.buf, tail...)
	return u, w, nil
}

// Write appends the bytes of r to an upload at offset, which must be its current offset
// (ErrOffsetMismatch). It streams: each full chunk is sealed and made durable as it
// arrives, and when r ends (or fails) the bytes after the last chunk are saved too, so the
// new offset covers everything read. It returns that offset. Bytes beyond the upload's
// length are ErrBeyondLength (those before them are kept).
func (m *Store) Write(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if err := m.lockUpload(id); err != nil {
		return 0, err
	}
	defer m.unlockUpload(id)
	u, w, err := m.resume(id)
	if err != nil {
		return 0, err
	}
	if w == nil {
		return u.Length, fmt.Errorf("%w: upload already complete", ErrOffsetMismatch)
	}
	if cur := w.size(); offset != cur {
		return cur, fmt.Errorf("%w: offset %d, upload at %d", ErrOffsetMismatch, offset, cur)
	}
	w.onChunk = func() error {
		nu := *u
		nu.Sealed, nu.Chunks = w.nsealed, w.chunks()
		sum, err := w.sumState()
		if err != nil {
			return err
		}
		nu.Sum = sum
		if err := m.blobs.SyncDir(); err != nil {
			return err
		}
		err = m.db.Update(ctx, func(tx *store.Tx) error {
			if err := m.rec.PutUpload(tx, id, &nu); err != nil {
				return err
			}
			return m.rec.DeleteTail(tx, id, &nu)
		})
		if err == nil {
			*u = nu
		}
		return err
	}
	remaining := u.Length - w.size()
	_, cerr := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, remaining))
	if cerr == nil && w.size() == u.Length {
		// Anything after the declared length is refused.
		var one [1]byte
		if n, _ := r.Read(one[:]); n > 0 {
			cerr = fmt.Errorf("%w: upload of %d bytes", ErrBeyondLength, u.Length)
		}
	}
	if w.failed != nil {
		// A chunk was not stored or recorded: what is durable is the state before it.
		up, err := m.Offset(id)
		if err != nil {
			return 0, errors.Join(w.failed, err)
		}
		return up.Offset, fmt.Errorf("media: upload write: %w", w.failed)
	}
	// Save the unsealed tail whatever happened to the reader, so the offset covers it.
	serr := m.db.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if len(w.buf) == 0 {
			return m.rec.DeleteTail(tx, id, u)
		}
		return m.rec.PutTail(tx, id, u, w.buf)
	})
	if serr != nil {
		return u.Sealed, fmt.Errorf("media: save upload: %w", serr)
	}
	return w.size(), cerr
}

// Complete finishes an upload whose every byte arrived (ErrIncomplete otherwise) and
// returns its Attachment. Completing twice returns the same media.
func (m *Store) Complete(ctx context.Context, id string) (Attachment, error) {
	if err := m.lockUpload(id); err != nil {
		return Attachment{}, err
	}
	defer m.unlockUpload(id)
	u, w, err := m.resume(id)
	if err != nil {
		return Attachment{}, err
	}
	if w == nil {
		return m.Info(u.Media)
	}
	if w.size() != u.Length {
		return Attachment{}, fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, w.size(), u.Length)
	}
	if err := w.finish(); err != nil {
		return Attachment{}, err
	}
	a, err := m.finalize(ctx, w, u.Name, u.MIME)
	if err != nil {
		return Attachment{}, err
	}
	// The completed session keeps no key, name or type (the media has them, sealed as
	// long as its messages need): it is plain, and what it held sealed is released.
	u.Media, u.Chunks, u.Sum, u.Key, u.Name, u.MIME = a.MediaID, nil, nil, nil, "", ""
	err = m.db.Update(ctx, func(tx *store.Tx) error {
		if err := m.rec.DeleteTail(tx, id, u); err != nil {
			return err
		}
		return m.rec.PutUpload(tx, id, u)
	})
	if err != nil {
		return Attachment{}, fmt.Errorf("media: complete upload: %w", err)
	}
	return a, nil
}

// Cancel ends an unfinished upload and removes what it stored. A completed upload's
// session is forgotten; its media stays (and goes when unreferenced).
func (m *Store) Cancel(ctx context.Context, id string) error {
	if err := m.lockUpload(id); err != nil {
		return err
	}
	defer m.unlockUpload(id)
	u, w, err := m.resume(id)
	if err != nil {
		return err
	}
	err = m.db.Update(ctx, func(tx *store.Tx) error {
		if err := m.rec.DeleteTail(tx, id, u); err != nil {
			return err
		}
		return m.rec.Delete(tx, uploadKey(id))
	})
	if err != nil {
		return fmt.Errorf("media: cancel upload: %w", err)
	}
	if w != nil {
		w.abort()
	}
	return nil
}
