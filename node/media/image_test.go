package media

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrel-chat/petrel/node/media/filemeta"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("filemeta", "testdata", name))
	if err != nil {
		t.Fatalf("fixture %s (generate with `go run gen.go` in filemeta/testdata): %v", name, err)
	}
	if !bytes.Contains(b, []byte("petrel-secret")) {
		t.Fatalf("fixture %s carries no metadata to strip", name)
	}
	return b
}

// metadataMarkers must not appear in anything sent.
var metadataMarkers = []string{"petrel-secret", "Exif\x00", "http://ns.adobe.com", "XMP DataXMP", "8BIM", "eXIf", "tEXt", "iTXt", "zTXt"}

func assertStripped(t *testing.T, b []byte) {
	t.Helper()
	for _, m := range metadataMarkers {
		if bytes.Contains(b, []byte(m)) {
			t.Errorf("metadata %q survived", m)
		}
	}
}

func decodeAny(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := filemeta.Decode(bytes.NewReader(b), filemeta.Sniff(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

func TestJPEGOrientationAppliedAndLocationStripped(t *testing.T) {
	ts := newTestStore(t, Options{})
	src := fixture(t, "orient6-gps.jpg")
	if filemeta.Orientation(bytes.NewReader(src)) != 6 {
		t.Fatal("fixture orientation not read as 6")
	}
	a, err := ts.Put(ctxT(t), bytes.NewReader(src), "IMG_0001.jpg", "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if a.Width != 40 || a.Height != 80 || a.MIME != "image/jpeg" || a.ThumbnailMediaID == "" {
		t.Fatalf("attachment %+v, want 40×80 image/jpeg with a thumbnail", a)
	}
	out := readAll(t, ts.Store, a.MediaID)
	assertStripped(t, out)
	img := decodeAny(t, out)
	if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 80 {
		t.Fatalf("stored image %v, want 40×80", b)
	}
	isRed := func(c color.Color) bool { r, g, b, _ := c.RGBA(); return r > 40000 && g < 20000 && b < 20000 }
	isBlue := func(c color.Color) bool { r, g, b, _ := c.RGBA(); return b > 40000 && r < 20000 && g < 20000 }
	if !isRed(img.At(20, 10)) || !isBlue(img.At(20, 70)) {
		t.Fatalf("not rotated 90° clockwise: top %v, bottom %v", img.At(20, 10), img.At(20, 70))
	}
	th, err := ts.Info(a.ThumbnailMediaID)
	if err != nil || th.MIME != "image/jpeg" || th.Width != 40 || th.Height != 80 {
		t.Fatalf("thumbnail %+v %v", th, err)
	}
}

func TestStrippedImagesKeepTheirPixels(t *testing.T) {
	for _, name := range []string{"gps.jpg", "meta.png", "meta.gif", "meta.webp"} {
		t.Run(name, func(t *testing.T) {
			ts := newTestStore(t, Options{})
			src := fixture(t, name)
			a, err := ts.Put(ctxT(t), bytes.NewReader(src), name, "application/octet-stream")
			if err != nil {
				t.Fatal(err)
			}
			if a.MIME != filemeta.Sniff(src) || a.Width == 0 || a.ThumbnailMediaID == "" {
				t.Fatalf("attachment %+v", a)
			}
			out := readAll(t, ts.Store, a.MediaID)
			assertStripped(t, out)
			if !samePixels(decodeAny(t, src), decodeAny(t, out)) {
				t.Fatal("stripping changed the pixels")
			}
			if name == "meta.webp" && out[20]&0x0C != 0 {
				t.Fatalf("VP8X still flags EXIF/XMP: %#x", out[20])
			}
		})
	}
}

func TestThumbnailIsAtMost320(t *testing.T) {
	ts := newTestStore(t, Options{})
	img := image.NewRGBA(image.Rect(0, 0, 1000, 400))
	copy(img.Pix, randomBytes(1, len(img.Pix)))
	var b bytes.Buffer
	png.Encode(&b, img)
	a, err := ts.Put(ctxT(t), &b, "noise.png", "image/png")
	if err != nil {
		t.Fatal(err)
	}
	th, err := ts.Info(a.ThumbnailMediaID)
	if err != nil {
		t.Fatal(err)
	}
	tb := decodeAny(t, readAll(t, ts.Store, th.MediaID)).Bounds()
	if tb.Dx() != 320 || tb.Dy() != 128 || th.Width != 320 || th.Height != 128 || th.MIME != "image/jpeg" {
		t.Fatalf("thumbnail %v (%+v), want 320×128 JPEG", tb, th)
	}
	if a.Width != 1000 || a.Height != 400 {
		t.Fatalf("size %d×%d", a.Width, a.Height)
	}
}

func TestFalseImageClaimIsNotAnImage(t *testing.T) {
	ts := newTestStore(t, Options{})
	a, err := ts.Put(ctxT(t), bytes.NewReader([]byte("<html><script>alert(1)</script>")), "cat.png", "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if a.MIME != "application/octet-stream" || a.ThumbnailMediaID != "" || a.Width != 0 {
		t.Fatalf("attachment %+v", a)
	}
	// A JPEG start that is not a JPEG: kept, opaque.
	a, err = ts.Put(ctxT(t), bytes.NewReader([]byte("\xff\xd8\xff\xe0garbage")), "x.jpg", "image/jpeg")
	if err != nil || a.MIME != "application/octet-stream" || a.ThumbnailMediaID != "" {
		t.Fatalf("broken jpeg: %+v %v", a, err)
	}
}
