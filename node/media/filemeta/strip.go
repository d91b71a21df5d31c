package filemeta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errBadImage wraps every structural error of the metadata strippers.
var errBadImage = errors.New("filemeta: malformed image")

func badImage(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadImage, fmt.Sprintf(format, a...))
}

// Strip copies the image of type kind (Sniff) in r to w without its metadata (doc.go,
// "Images"); pixels are untouched.
func Strip(kind string, r io.ReadSeeker, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch kind {
	case "image/jpeg":
		err = stripJPEG(bufio.NewReaderSize(r, 64<<10), bw)
	case "image/png":
		err = stripPNG(bufio.NewReaderSize(r, 64<<10), bw)
	case "image/gif":
		err = stripGIF(bufio.NewReaderSize(r, 64<<10), bw)
	case "image/webp":
		err = stripWebP(r, bw)
	default:
		err = badImage("unknown type %q", kind)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func noEOF(err error) error {
	if err == io.EOF {
		return badImage("truncated")
	}
	return err
}

// JPEG markers.
const (
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mAPP0  = 0xE0
	mAPP1  = 0xE1
	mAPP2  = 0xE2
	mAPP14 = 0xEE
	mCOM   = 0xFE
)

// keepJPEGSegment says whether a marker segment survives stripping: every non-APP segment
// except comments; of the APP segments only JFIF/JFXX (APP0), the ICC colour profile (APP2)
// and Adobe's colour transform (APP14), which decoding needs. EXIF and XMP (APP1),
// Photoshop IPTC (APP13), FlashPix and MPF (APP2) and the rest go.
func keepJPEGSegment(m byte, payload []byte) bool {
	switch {
	case m == mCOM:
		return false
	case m == mAPP0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00")) || bytes.HasPrefix(payload, []byte("JFXX\x00"))
	case m == mAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
	case m == mAPP14:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	case m >= mAPP0 && m <= 0xEF:
		return false
	}
	return true
}

// jpegSegments walks a JPEG's marker segments up to the first SOS, calling fn with each
// marker and payload; it stops early when fn returns false.
func jpegSegments(r *bufio.Reader, fn func(m byte, payload []byte) (bool, error)) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi[0] != 0xFF || soi[1] != mSOI {
		return badImage("no JPEG start marker")
	}
	_, err := jpegWalk(r, 0, fn)
	return err
}

// jpegWalk walks marker segments, starting with marker m when it is not 0 (already read),
// up to and including an SOS or EOI, or until fn returns false. It returns the last marker.
func jpegWalk(r *bufio.Reader, m byte, fn func(m byte, payload []byte) (bool, error)) (byte, error) {
	for {
		if m == 0 {
			var err error
			if m, err = jpegMarker(r); err != nil {
				return 0, err
			}
		}
		if m == mEOI || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			if more, err := fn(m, nil); err != nil || !more || m == mEOI {
				return m, err
			}
			m = 0
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, badImage("segment length")
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n < 2 {
			return 0, badImage("segment length %d", n)
		}
		payload := make([]byte, n-2)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, badImage("truncated segment")
		}
		if more, err := fn(m, payload); err != nil || !more || m == mSOS {
			return m, err
		}
		m = 0
	}
}

// jpegMarker reads 0xFF, any fill bytes, and the marker byte.
func jpegMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	if b != 0xFF {
		return 0, badImage("expected a marker, got 0x%02x", b)
	}
	for {
		if b, err = r.ReadByte(); err != nil {
			return 0, noEOF(err)
		}
		if b != 0xFF {
			break
		}
	}
	if b == 0 {
		return 0, badImage("marker 0x00")
	}
	return b, nil
}

// stripJPEG copies a JPEG without its metadata segments, through its EOI: bytes after
// the image (a second, multi-picture JPEG with its own EXIF, vendor trailers) are dropped.
func stripJPEG(r *bufio.Reader, w *bufio.Writer) error {
	w.Write([]byte{0xFF, mSOI})
	writeSeg := func(m byte, payload []byte) (bool, error) {
		if payload == nil && (m == mEOI || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
			w.Write([]byte{0xFF, m})
			return m != mEOI, nil
		}
		if !keepJPEGSegment(m, payload) {
			return true, nil
		}
		w.Write([]byte{0xFF, m})
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(payload)+2))
		w.Write(l[:])
		_, err := w.Write(payload)
		return true, err
	}
	if err := jpegSegments(r, writeSeg); err != nil {
		return err
	}
	// After a SOS: entropy-coded data, in which 0xFF is followed by 0x00 (a stuffed byte)
	// or a restart marker; any other marker ends the scan (DHT between progressive scans,
	// another SOS, EOI).
	for {
		data, err := r.ReadSlice(0xFF)
		if err == bufio.ErrBufferFull {
			w.Write(data)
			continue
		}
		if err != nil {
			return noEOF(err)
		}
		w.Write(data[:len(data)-1])
		b, err := r.ReadByte()
		for err == nil && b == 0xFF { // fill bytes
			b, err = r.ReadByte()
		}
		if err != nil {
			return noEOF(err)
		}
		if b == 0x00 || (b >= 0xD0 && b <= 0xD7) {
			w.Write([]byte{0xFF, b})
			continue
		}
		if b == mEOI {
			_, err := w.Write([]byte{0xFF, mEOI})
			return err
		}
		// Another segment (DHT between progressive scans, another SOS): walk segments up
		// to the next SOS.
		last, err := jpegWalk(r, b, writeSeg)
		if err != nil {
			return err
		}
		if last == mEOI {
			return nil
		}
	}
}

// Orientation returns the EXIF orientation (1–8) of a JPEG, 1 when absent or unreadable.
func Orientation(r io.Reader) int {
	o := 1
	_ = jpegSegments(bufio.NewReader(r), func(m byte, p []byte) (bool, error) {
		if m == mAPP1 && bytes.HasPrefix(p, []byte("Exif\x00\x00")) {
			o = exifOrientation(p[6:])
			return false, nil
		}
		return m != mSOS, nil
	})
	return o
}

// exifOrientation reads tag 0x0112 of IFD0 of a TIFF structure.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[off:]))
	for i := range n {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// stripPNG copies a PNG without its text, time and EXIF chunks, through IEND.
func stripPNG(r *bufio.Reader, w *bufio.Writer) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || string(sig[:]) != "\x89PNG\r\n\x1a\n" {
		return badImage("no PNG signature")
	}
	w.Write(sig[:])
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return badImage("truncated PNG chunk")
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n > 1<<31-1 {
			return badImage("PNG chunk length")
		}
		typ := string(hdr[4:])
		switch typ {
		case "eXIf", "tEXt", "iTXt", "zTXt", "tIME":
			if _, err := io.CopyN(io.Discard, r, n+4); err != nil {
				return badImage("truncated PNG chunk")
			}
			continue
		}
		w.Write(hdr[:])
		if _, err := io.CopyN(w, r, n+4); err != nil {
			return badImage("truncated PNG chunk")
		}
		if typ == "IEND" {
			return nil
		}
	}
}

// stripGIF copies a GIF without comment extensions and application extensions other than
// the animation loop ones (XMP travels in an application extension), through the trailer.
func stripGIF(r *bufio.Reader, w *bufio.Writer) error {
	var hdr [13]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || (string(hdr[:6]) != "GIF87a" && string(hdr[:6]) != "GIF89a") {
		return badImage("no GIF header")
	}
	w.Write(hdr[:])
	if hdr[10]&0x80 != 0 {
		if _, err := io.CopyN(w, r, 3<<((hdr[10]&7)+1)); err != nil {
			return badImage("truncated colour table")
		}
	}
	subBlocks := func(dst io.Writer) error {
		for {
			n, err := r.ReadByte()
			if err != nil {
				return badImage("truncated GIF block")
			}
			dst.Write([]byte{n})
			if n == 0 {
				return nil
			}
			if _, err := io.CopyN(dst, r, int64(n)); err != nil {
				return badImage("truncated GIF block")
			}
		}
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			return badImage("GIF without trailer")
		}
		switch b {
		case 0x3B:
			_, err := w.Write([]byte{b})
			return err
		case 0x2C:
			var d [9]byte
			if _, err := io.ReadFull(r, d[:]); err != nil {
				return badImage("truncated image descriptor")
			}
			w.Write([]byte{b})
			w.Write(d[:])
			if d[8]&0x80 != 0 {
				if _, err := io.CopyN(w, r, 3<<((d[8]&7)+1)); err != nil {
					return badImage("truncated colour table")
				}
			}
			lzw, err := r.ReadByte()
			if err != nil {
				return badImage("truncated image")
			}
			w.Write([]byte{lzw})
			if err := subBlocks(w); err != nil {
				return err
			}
		case 0x21:
			label, err := r.ReadByte()
			if err != nil {
				return badImage("truncated extension")
			}
			keep := label != 0xFE
			var first []byte
			if label == 0xFF {
				n, err := r.ReadByte()
				if err != nil {
					return badImage("truncated extension")
				}
				first = make([]byte, n)
				if _, err := io.ReadFull(r, first); err != nil {
					return badImage("truncated extension")
				}
				keep = n == 11 && (string(first) == "NETSCAPE2.0" || string(first) == "ANIMEXTS1.0")
				first = append([]byte{n}, first...)
			}
			var dst io.Writer = io.Discard
			if keep {
				dst = w
				w.Write([]byte{b, label})
				w.Write(first)
			}
			if err := subBlocks(dst); err != nil {
				return err
			}
		default:
			return badImage("GIF block 0x%02x", b)
		}
	}
}

// stripWebP copies a WebP without its EXIF and XMP chunks, clearing their flags in VP8X
// and fixing the RIFF size (a first pass measures what is kept).
func stripWebP(r io.ReadSeeker, w *bufio.Writer) error {
	type chunk struct {
		fourcc string
		off    int64 // of the payload
		size   int64
	}
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WEBP" {
		return badImage("no WebP header")
	}
	end := 8 + int64(binary.LittleEndian.Uint32(hdr[4:]))
	var keep []chunk
	total := int64(4) // "WEBP"
	pos := int64(12)
	for pos+8 <= end {
		var ch [8]byte
		if _, err := r.Seek(pos, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return badImage("truncated WebP chunk")
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		c := chunk{fourcc: string(ch[:4]), off: pos + 8, size: size}
		pos += 8 + size + size&1
		if pos > end {
			return badImage("WebP chunk past the end")
		}
		if c.fourcc == "EXIF" || c.fourcc == "XMP " {
			continue
		}
		keep = append(keep, c)
		total += 8 + size + size&1
	}
	if len(keep) == 0 || total > 1<<32-1 {
		return badImage("WebP without image data")
	}
	w.Write([]byte("RIFF"))
	binary.Write(w, binary.LittleEndian, uint32(total))
	w.Write([]byte("WEBP"))
	for _, c := range keep {
		if _, err := r.Seek(c.off, io.SeekStart); err != nil {
			return err
		}
		w.Write([]byte(c.fourcc))
		binary.Write(w, binary.LittleEndian, uint32(c.size))
		n := c.size + c.size&1
		if c.fourcc == "VP8X" && c.size >= 1 {
			f, err := bufio.NewReader(io.LimitReader(r, 1)).ReadByte()
			if err != nil {
				return badImage("truncated VP8X")
			}
			w.WriteByte(f &^ 0x0C) // EXIF (0x08) and XMP (0x04) flags
			n--
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return badImage("truncated WebP chunk")
		}
	}
	return nil
}
