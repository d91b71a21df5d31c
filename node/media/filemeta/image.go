package filemeta

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

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

// Sniff names the image type of a file by its first bytes (up to 512), or "" for other
// files: the type a UI may render inline, whatever the file claims.
func Sniff(head []byte) string {
	switch t := http.DetectContentType(head); t {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return t
	}
	return ""
}

// Sniffable says whether mime is one of the image types Sniff names.
func Sniffable(mime string) bool {
	switch mime {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// DecodeConfig reads the dimensions of an image of type kind (Sniff).
func DecodeConfig(r io.Reader, kind string) (image.Config, error) {
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
	return image.Config{}, fmt.Errorf("filemeta: not an image")
}

// Decode decodes an image of type kind (Sniff); of a GIF, the first frame.
func Decode(r io.Reader, kind string) (image.Image, error) {
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
	return nil, fmt.Errorf("filemeta: not an image")
}

// Rewritten is what Rewrite wrote.
type Rewritten struct {
	Width, Height int // of the upright image
	// Small: the image is within the pixel limit, so it may be decoded (for a thumbnail).
	Small bool
	// Image is the decoded, upright image when Rewrite had to decode it (a JPEG turned
	// upright), else nil: decode what was written for a thumbnail.
	Image image.Image
}

// Rewrite writes the image of type kind in r to w without its metadata: a JPEG whose EXIF
// orientation is not 1 and that has at most maxPixels pixels is decoded, turned upright
// and re-encoded; every other image is stripped (Strip), pixels untouched.
func Rewrite(r io.ReadSeeker, kind string, maxPixels int, w io.Writer) (Rewritten, error) {
	var out Rewritten
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return out, err
	}
	cfg, err := DecodeConfig(r, kind)
	if err != nil {
		return out, fmt.Errorf("filemeta: image header: %w", err)
	}
	out.Width, out.Height = cfg.Width, cfg.Height
	out.Small = cfg.Width > 0 && cfg.Height > 0 && cfg.Width*cfg.Height <= maxPixels
	orient := 1
	if kind == "image/jpeg" {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return out, err
		}
		orient = Orientation(r)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return out, err
	}
	if orient == 1 || !out.Small {
		return out, Strip(kind, r, w)
	}
	src, err := Decode(r, kind)
	if err != nil {
		return out, fmt.Errorf("filemeta: decode image: %w", err)
	}
	out.Image = applyOrientation(src, orient)
	b := out.Image.Bounds()
	out.Width, out.Height = b.Dx(), b.Dy()
	return out, jpeg.Encode(w, out.Image, &jpeg.Options{Quality: reencodeQuality})
}

// Thumbnail scales img to at most ThumbnailMax on its long side (never up) and encodes it
// as JPEG.
func Thumbnail(img image.Image) ([]byte, error) {
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
		return nil, fmt.Errorf("filemeta: thumbnail: %w", err)
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
