//go:build ignore

// gen writes the image fixtures of node/media/filemeta's tests: each carries metadata that must not
// survive stripping (every secret contains "petrel-secret"). Run from node/media/filemeta/testdata:
//
//	go run gen.go
//
// meta.webp reuses the VP8 bitstream of golang.org/x/image's testdata/blue-purple-pink.lossy.webp
// (found in the module cache), since the standard library has no WebP encoder.
package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/image/webp"
)

func main() {
	// 80×40: left half red, right half blue. Displayed with orientation 6 (turned 90°
	// clockwise) it is 40×80, red on top.
	img := image.NewRGBA(image.Rect(0, 0, 80, 40))
	for y := range 40 {
		for x := range 80 {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 40 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.Set(x, y, c)
		}
	}
	var j bytes.Buffer
	must(jpeg.Encode(&j, img, &jpeg.Options{Quality: 95}))
	write("orient6-gps.jpg", jpegWithMeta(j.Bytes(), 6))
	write("gps.jpg", jpegWithMeta(j.Bytes(), 1))

	var p bytes.Buffer
	must(png.Encode(&p, img))
	write("meta.png", pngWithMeta(p.Bytes()))

	pal := image.NewPaletted(image.Rect(0, 0, 32, 32), palette.Plan9)
	for y := range 32 {
		for x := range 32 {
			pal.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 8), 100, 255})
		}
	}
	var g bytes.Buffer
	must(gif.Encode(&g, pal, nil))
	write("meta.gif", gifWithMeta(g.Bytes()))

	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	must(err)
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "golang.org/x/image@v0.48.0/testdata/blue-purple-pink.lossy.webp"))
	must(err)
	write("meta.webp", webpWithMeta(src))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func write(name string, b []byte) { must(os.WriteFile(name, b, 0o644)) }

// tiff is a big-endian TIFF structure: IFD0 with Orientation, ImageDescription and a GPS
// IFD pointer; the GPS IFD with a latitude.
func tiff(orientation uint16) []byte {
	desc := "petrel-secret-location 48.8584N 2.2945E\x00"
	var b bytes.Buffer
	be := binary.BigEndian
	b.WriteString("MM\x00*")
	binary.Write(&b, be, uint32(8))
	// IFD0: 3 entries at 8; next IFD 0; then the description; then the GPS IFD.
	ifd0End := 8 + 2 + 3*12 + 4
	descOff := ifd0End
	gpsOff := descOff + len(desc)
	binary.Write(&b, be, uint16(3))
	entry := func(tag, typ uint16, count, value uint32) {
		binary.Write(&b, be, tag)
		binary.Write(&b, be, typ)
		binary.Write(&b, be, count)
		binary.Write(&b, be, value)
	}
	entry(0x010E, 2, uint32(len(desc)), uint32(descOff))
	entry(0x0112, 3, 1, uint32(orientation)<<16)
	entry(0x8825, 4, 1, uint32(gpsOff))
	binary.Write(&b, be, uint32(0))
	b.WriteString(desc)
	// GPS IFD: LatitudeRef "N", Latitude 48/1 51/1 2400/100.
	latOff := gpsOff + 2 + 2*12 + 4
	binary.Write(&b, be, uint16(2))
	entry(0x0001, 2, 2, uint32('N')<<24)
	entry(0x0002, 5, 3, uint32(latOff))
	binary.Write(&b, be, uint32(0))
	for _, v := range []uint32{48, 1, 51, 1, 2400, 100} {
		binary.Write(&b, be, v)
	}
	return b.Bytes()
}

func segment(m byte, payload []byte) []byte {
	out := []byte{0xFF, m, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(len(payload)+2))
	return append(out, payload...)
}

func jpegWithMeta(j []byte, orientation uint16) []byte {
	var b bytes.Buffer
	b.Write(j[:2]) // SOI
	b.Write(segment(0xE1, append([]byte("Exif\x00\x00"), tiff(orientation)...)))
	b.Write(segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description petrel-secret-xmp/></x:xmpmeta>")))
	b.Write(segment(0xED, []byte("Photoshop 3.0\x008BIM petrel-secret-iptc")))
	b.Write(segment(0xFE, []byte("petrel-secret-comment")))
	b.Write(j[2:])
	// A trailer after EOI, as phones append (a second picture with its own EXIF).
	b.WriteString("petrel-secret-trailer")
	return b.Bytes()
}

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

func pngWithMeta(p []byte) []byte {
	// Signature (8) and IHDR (25), then the metadata, then the rest.
	var b bytes.Buffer
	b.Write(p[:33])
	b.Write(pngChunk("tEXt", []byte("Comment\x00petrel-secret-text")))
	b.Write(pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>petrel-secret-itxt</x:xmpmeta>")))
	b.Write(pngChunk("zTXt", []byte("Author\x00\x00x\x9c+H-)J\xcd\xd1-NM.J-\xd1\xad\xaa\x00\x00N\x86\x07\xb4")))
	b.Write(pngChunk("eXIf", tiff(1)))
	b.Write(pngChunk("tIME", []byte{0x07, 0xEA, 12, 3, 12, 0, 0}))
	b.Write(p[33:])
	return b.Bytes()
}

func gifWithMeta(g []byte) []byte {
	// Header (6) + logical screen descriptor (7) + global colour table.
	n := 13
	if g[10]&0x80 != 0 {
		n += 3 << ((g[10] & 7) + 1)
	}
	var b bytes.Buffer
	b.Write(g[:n])
	sub := func(s string) {
		for len(s) > 0 {
			k := min(len(s), 255)
			b.WriteByte(byte(k))
			b.WriteString(s[:k])
			s = s[k:]
		}
		b.WriteByte(0)
	}
	b.Write([]byte{0x21, 0xFE})
	sub("petrel-secret-gif-comment")
	b.Write([]byte{0x21, 0xFF, 11})
	b.WriteString("XMP DataXMP")
	sub("<x:xmpmeta>petrel-secret-gif-xmp</x:xmpmeta>")
	b.Write(g[n:])
	return b.Bytes()
}

func riffChunk(fourcc string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(fourcc)
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	if len(data)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func webpWithMeta(src []byte) []byte {
	cfg, err := webp.DecodeConfig(bytes.NewReader(src))
	must(err)
	if string(src[12:16]) != "VP8 " {
		log.Fatal("expected a simple lossy WebP")
	}
	vp8 := src[12:] // the VP8 chunk, as is
	x := make([]byte, 10)
	x[0] = 0x08 | 0x04 // EXIF and XMP present
	w, h := cfg.Width-1, cfg.Height-1
	x[4], x[5], x[6] = byte(w), byte(w>>8), byte(w>>16)
	x[7], x[8], x[9] = byte(h), byte(h>>8), byte(h>>16)
	var body bytes.Buffer
	body.WriteString("WEBP")
	body.Write(riffChunk("VP8X", x))
	body.Write(vp8)
	body.Write(riffChunk("EXIF", tiff(1)))
	body.Write(riffChunk("XMP ", []byte("<x:xmpmeta>petrel-secret-webp-xmp</x:xmpmeta>")))
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}
