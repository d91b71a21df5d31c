package media

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Image processing constants.
const (
	// ThumbnailMax is the long side of a thumbnail, in pixels.
	ThumbnailMax     = 320
	thumbnailQuality = 80
	// reencodeQuality is used when a JPEG is re-encoded to apply its EXIF orientation.
	reencodeQuality = 90
)

type imageMeta struct {
	width, height int
	thumb         []byte // JPEG, or nil when the image was too large to decode
}

func decodeConfig(b []byte) (image.Config, error) {
	return decodeConfigKind(bytes.NewReader(b), sniffImage(b))
}

func decodeConfigKind(r io.Reader, kind string) (image.Config, error) {
	switch kind {
	case "image/jpeg":
		return jpeg.DecodeConfig(r)
	case "image/png":
		return png.DecodeConfig(r)
	case "image/gif":
		return gif.DecodeConfig(r)
	case "image/webp":
		return webp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("media: not an image")
}

func decodeKind(r io.Reader, kind string) (image.Image, error) {
	switch kind {
	case "image/jpeg":
		return jpeg.Decode(r)
	case "image/png":
		return png.Decode(r)
	case "image/gif":
		return gif.Decode(r) // the first frame
	case "image/webp":
		return webp.Decode(r)
	}
	return nil, fmt.Errorf("media: not an image")
}

// processImage writes the image in r without its metadata to a new file (a JPEG whose EXIF
// orientation is not 1 is rotated and re-encoded first), and makes its thumbnail.
func (m *Store) processImage(ctx context.Context, r *Reader, kind string) (*fileWriter, imageMeta, error) {
	var meta imageMeta
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, meta, err
	}
	cfg, err := decodeConfigKind(r, kind)
	if err != nil {
		return nil, meta, fmt.Errorf("media: image header: %w", err)
	}
	small := cfg.Width > 0 && cfg.Height > 0 && cfg.Width*cfg.Height <= m.opts.MaxPixels
	orient := 1
	if kind == "image/jpeg" {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, meta, err
		}
		orient = jpegOrientation(r)
	}
	id, key := newFile()
	w, err := m.newFileWriter(id, key, m.opts.MaxSize)
	if err != nil {
		return nil, meta, err
	}
	fail := func(err error) (*fileWriter, imageMeta, error) {
		w.abort()
		return nil, meta, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	var img image.Image // the decoded, oriented image, when it was decoded
	if orient != 1 && small {
		src, err := decodeKind(r, kind)
		if err != nil {
			return fail(fmt.Errorf("media: decode image: %w", err))
		}
		img = applyOrientation(src, orient)
		if err := jpeg.Encode(w, img, &jpeg.Options{Quality: reencodeQuality}); err != nil {
			return fail(err)
		}
	} else if err := stripMetadata(kind, r, w); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := w.finish(); err != nil {
		return fail(err)
	}
	meta.width, meta.height = cfg.Width, cfg.Height
	if img != nil {
		b := img.Bounds()
		meta.width, meta.height = b.Dx(), b.Dy()
	}
	if !small {
		return w, meta, nil
	}
	if img == nil {
		out, err := w.reader()
		if err != nil {
			return fail(err)
		}
		if img, err = decodeKind(out, kind); err != nil {
			// The stripped file does not decode: refuse it rather than send a broken image.
			return fail(fmt.Errorf("media: decode image: %w", err))
		}
	}
	meta.thumb, err = thumbnail(img)
	if err != nil {
		return fail(err)
	}
	return w, meta, nil
}

// thumbnail scales img to at most ThumbnailMax on its long side (never up) and encodes it
// as JPEG.
func thumbnail(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > ThumbnailMax || h > ThumbnailMax {
		if w >= h {
			h, w = max(1, h*ThumbnailMax/w), ThumbnailMax
		} else {
			w, h = max(1, w*ThumbnailMax/h), ThumbnailMax
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// Transparent pixels become white, not black, in a format without alpha.
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: thumbnailQuality}); err != nil {
		return nil, fmt.Errorf("media: thumbnail: %w", err)
	}
	return out.Bytes(), nil
}

// applyOrientation returns img as it should be displayed given its EXIF orientation (1–8:
// TIFF 6.0 Orientation tag; 6 means the camera was turned 90° clockwise).
func applyOrientation(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	W, H := b.Dx(), b.Dy()
	dw, dh := W, H
	if o >= 5 {
		dw, dh = H, W
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for dy := range dh {
		for dx := range dw {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = W-1-dx, dy
			case 3:
				sx, sy = W-1-dx, H-1-dy
			case 4:
				sx, sy = dx, H-1-dy
			case 5:
				sx, sy = dy, dx
			case 6:
				sx, sy = dy, H-1-dx
			case 7:
				sx, sy = W-1-dy, H-1-dx
			case 8:
				sx, sy = W-1-dy, dx
			}
			si := src.PixOffset(sx, sy)
			di := dst.PixOffset(dx, dy)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}
