package filemeta

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"testing"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture %s (generate with `go run gen.go` in testdata): %v", name, err)
	}
	if !bytes.Contains(b, []byte("petrel-secret")) {
		t.Fatalf("fixture %s carries no metadata to strip", name)
	}
	return b
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := Decode(bytes.NewReader(b), Sniff(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

// Stripping removes every metadata marker of the fixtures and keeps the pixels exactly.
func TestStripRemovesMetadataKeepsPixels(t *testing.T) {
	markers := []string{"petrel-secret", "Exif\x00", "http://ns.adobe.com", "XMP DataXMP", "8BIM", "eXIf", "tEXt", "iTXt", "zTXt"}
	for _, name := range []string{"gps.jpg", "meta.png", "meta.gif", "meta.webp", "orient6-gps.jpg"} {
		t.Run(name, func(t *testing.T) {
			src := fixture(t, name)
			var out bytes.Buffer
			if err := Strip(Sniff(src), bytes.NewReader(src), &out); err != nil {
				t.Fatal(err)
			}
			for _, m := range markers {
				if bytes.Contains(out.Bytes(), []byte(m)) {
					t.Errorf("metadata %q survived", m)
				}
			}
			a, b := decode(t, src), decode(t, out.Bytes())
			if a.Bounds() != b.Bounds() {
				t.Fatalf("bounds %v, want %v", b.Bounds(), a.Bounds())
			}
			for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
				for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
					if a.At(x, y) != b.At(x, y) {
						t.Fatalf("pixel %d,%d changed", x, y)
					}
				}
			}
		})
	}
}

// A JPEG shot with the camera turned (orientation 6) is rewritten upright: 40×80 from a
// stored 80×40, with no EXIF left.
func TestRewriteTurnsAJPEGUpright(t *testing.T) {
	src := fixture(t, "orient6-gps.jpg")
	if o := Orientation(bytes.NewReader(src)); o != 6 {
		t.Fatalf("orientation %d, want 6", o)
	}
	var out bytes.Buffer
	rw, err := Rewrite(bytes.NewReader(src), "image/jpeg", 1<<20, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rw.Width != 40 || rw.Height != 80 || !rw.Small || rw.Image == nil || bytes.Contains(out.Bytes(), []byte("petrel-secret")) {
		t.Fatalf("rewritten %dx%d small=%v", rw.Width, rw.Height, rw.Small)
	}
	if b := decode(t, out.Bytes()).Bounds(); b.Dx() != 40 || b.Dy() != 80 {
		t.Fatalf("written image %v", b)
	}
}

func FuzzStripMetadata(f *testing.F) {
	for _, name := range []string{"gps.jpg", "orient6-gps.jpg", "meta.png", "meta.gif", "meta.webp"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range []string{"image/jpeg", "image/png", "image/gif", "image/webp"} {
			var out bytes.Buffer
			err := Strip(kind, bytes.NewReader(b), &out)
			if err == nil && out.Len() > len(b)+16 {
				t.Fatalf("%s: output %d bytes from %d", kind, out.Len(), len(b))
			}
		}
		Orientation(bytes.NewReader(b))
		exifOrientation(b)
	})
}
