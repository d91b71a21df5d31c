package media

import (
	"context"
	"fmt"

	"github.com/petrel-chat/petrel/node/media/filemeta"
)

// ThumbnailMax is the long side of a thumbnail, in pixels.
const ThumbnailMax = filemeta.ThumbnailMax

type imageMeta struct {
	width, height int
	thumb         []byte // JPEG, or nil when the image was too large to decode
}

// processImage writes the image in r without its metadata to a new file (a JPEG whose EXIF
// orientation is not 1 is rotated and re-encoded first: filemeta.Rewrite), and makes its
// thumbnail.
func (m *Store) processImage(ctx context.Context, r *Reader, kind string) (*fileWriter, imageMeta, error) {
	var meta imageMeta
	id, key := newFile()
	w, err := m.newFileWriter(id, key, m.opts.MaxSize)
	if err != nil {
		return nil, meta, err
	}
	fail := func(err error) (*fileWriter, imageMeta, error) {
		w.abort()
		return nil, meta, err
	}
	rw, err := filemeta.Rewrite(r, kind, m.opts.MaxPixels, w)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := w.finish(); err != nil {
		return fail(err)
	}
	meta.width, meta.height = rw.Width, rw.Height
	if !rw.Small {
		return w, meta, nil
	}
	img := rw.Image
	if img == nil {
		out, err := w.reader()
		if err != nil {
			return fail(err)
		}
		if img, err = filemeta.Decode(out, kind); err != nil {
			// The stripped file does not decode: refuse it rather than send a broken image.
			return fail(fmt.Errorf("media: decode image: %w", err))
		}
	}
	if meta.thumb, err = filemeta.Thumbnail(img); err != nil {
		return fail(err)
	}
	return w, meta, nil
}
