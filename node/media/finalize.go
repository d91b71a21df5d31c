package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/petrel-chat/petrel/node/media/filemeta"
	"github.com/petrel-chat/petrel/node/store"
)

// finalize turns a finished writer into a media id: images are stripped and get a
// thumbnail, audio and video a duration, then the file is recorded (or, when the same
// plaintext is already here, the writer's chunks are dropped and the stored file reused).
func (m *Store) finalize(ctx context.Context, w *fileWriter, name, mime string) (Attachment, error) {
	r, err := w.reader()
	if err != nil {
		w.abort()
		return Attachment{}, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		w.abort()
		return Attachment{}, err
	}
	head = head[:n]
	kind := filemeta.Sniff(head)
	mime = filemeta.ChooseMIME(mime, kind)
	md := &mediaRecord{V: recordVersion, Name: filemeta.CleanName(name), MIME: mime, Created: m.opts.Now().UnixMilli()}
	id := newID("md")
	var thumb []byte
	if kind != "" {
		w2, meta, err := m.processImage(ctx, r, kind)
		switch {
		case err != nil && ctx.Err() != nil:
			w.abort()
			return Attachment{}, err
		case err != nil:
			// Not an image we can parse: we cannot vouch it carries no metadata a viewer
			// would show, so it is kept as an opaque file, never rendered inline.
			m.log.Info("image not processed; stored as a plain file", "err", err)
			md.MIME = "application/octet-stream"
		default:
			w.abort()
			w = w2
			md.Width, md.Height, thumb = meta.width, meta.height, meta.thumb
		}
	} else if d, ok := filemeta.Duration(r, head); ok {
		md.DurationMS = d
	}
	if thumb != nil {
		tmd := &mediaRecord{V: recordVersion, Name: "thumbnail.jpg", MIME: "image/jpeg", Parent: id, Created: md.Created}
		tw, err := m.writeBytes(thumb)
		if err == nil {
			if tm, err := filemeta.DecodeConfig(bytes.NewReader(thumb), "image/jpeg"); err == nil {
				tmd.Width, tmd.Height = tm.Width, tm.Height
			}
			tid := newID("md")
			if err = m.commitFile(ctx, tw, tid, tmd); err == nil {
				md.Thumb = tid
			}
		}
		if err != nil {
			m.log.Warn("storing a thumbnail failed; sending without", "err", err)
		}
	}
	if err := m.commitFile(ctx, w, id, md); err != nil {
		return Attachment{}, err
	}
	return m.Info(id)
}

// writeBytes stores b as a finished file (no processing).
func (m *Store) writeBytes(b []byte) (*fileWriter, error) {
	id, key := newFile()
	w, err := m.newFileWriter(id, key, m.opts.MaxSize)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.finish(); err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

// commitFile records media id → the writer's file, unless a local file with the same
// plaintext exists: then the media id points at that one and the writer's chunks go.
func (m *Store) commitFile(ctx context.Context, w *fileWriter, id string, md *mediaRecord) error {
	rec := w.record()
	if err := m.blobs.SyncDir(); err != nil {
		w.abort()
		return err
	}
	dup := false
	err := m.db.Update(ctx, func(tx *store.Tx) error {
		dup = false
		fid := w.id
		if s, err := store.GetString(tx, sumKey(rec.SHA256)); err != nil {
			return err
		} else if s != "" {
			if old, err := parseFileID(s); err == nil {
				if f, err := m.getFile(tx, old); err == nil && f.State == stateAvailable {
					fid, dup = old, true
				}
			}
		}
		md.File = fid.String()
		if err := tx.Set(onFileKey(fid, id), nil); err != nil {
			return err
		}
		if !dup {
			if err := tx.Set(sumKey(rec.SHA256), []byte(fid.String())); err != nil {
				return err
			}
		}
		// Media no message uses yet is sealed under the Pending bucket of now (when the
		// store has a sealer): whether its name and key must disappear is known only
		// when it is sent (RefUntil).
		if err := m.putMedia(tx, id, md); err != nil {
			return err
		}
		if dup {
			return nil
		}
		return m.putFile(tx, fid, rec)
	})
	if err != nil || dup {
		w.abort()
	}
	if err != nil {
		return fmt.Errorf("media: record file: %w", err)
	}
	return nil
}
