package filemeta

import (
	"bytes"
	"encoding/binary"
	"io"
)

// SizedReaderAt is a file read by offset that knows its size (media.Reader, bytes.Reader).
type SizedReaderAt interface {
	io.ReaderAt
	Size() int64
}

// Duration returns the playing time in milliseconds of the audio or video in r when it is
// cheap to know: MP4/M4A/MOV (the movie header box, mvhd), WAV (data size over byte
// rate), Ogg Opus (the last page's granule position less the pre-skip, at 48 kHz). Other
// formats (WebM, MP3, FLAC, Ogg Vorbis) have none.
// head is the file's first bytes (at least 36 for Ogg).
func Duration(r SizedReaderAt, head []byte) (int64, bool) {
	switch {
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return mp4Duration(r)
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return wavDuration(r)
	case len(head) >= 36 && string(head[:4]) == "OggS" && string(head[28:36]) == "OpusHead":
		return opusDuration(r, head)
	}
	return 0, false
}

// readAt reads exactly len(b) bytes at off.
func readAt(r io.ReaderAt, b []byte, off int64) bool {
	n, err := r.ReadAt(b, off)
	return n == len(b) && (err == nil || err == io.EOF)
}

// mp4Duration walks top-level boxes to moov, and moov's children to mvhd.
func mp4Duration(r SizedReaderAt) (int64, bool) {
	box := func(off, end int64) (typ string, body, next int64, ok bool) {
		var h [16]byte
		if off+8 > end || !readAt(r, h[:8], off) {
			return "", 0, 0, false
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		body = off + 8
		switch size {
		case 0:
			size = end - off
		case 1:
			if !readAt(r, h[8:16], off+8) {
				return "", 0, 0, false
			}
			size = int64(binary.BigEndian.Uint64(h[8:16]))
			body = off + 16
		}
		if size < body-off || off+size > end {
			return "", 0, 0, false
		}
		return string(h[4:8]), body, off + size, true
	}
	for off, end := int64(0), r.Size(); off < end; {
		typ, body, next, ok := box(off, end)
		if !ok {
			return 0, false
		}
		if typ == "moov" {
			for c := body; c < next; {
				ct, cb, cn, ok := box(c, next)
				if !ok {
					return 0, false
				}
				if ct == "mvhd" {
					return mvhdDuration(r, cb, cn)
				}
				c = cn
			}
			return 0, false
		}
		off = next
	}
	return 0, false
}

func mvhdDuration(r SizedReaderAt, body, end int64) (int64, bool) {
	var b [32]byte
	n := min(int64(len(b)), end-body)
	if n < 20 || !readAt(r, b[:n], body) {
		return 0, false
	}
	var scale, dur uint64
	if b[0] == 1 {
		if n < 32 {
			return 0, false
		}
		scale, dur = uint64(binary.BigEndian.Uint32(b[20:])), binary.BigEndian.Uint64(b[24:])
	} else {
		scale, dur = uint64(binary.BigEndian.Uint32(b[12:])), uint64(binary.BigEndian.Uint32(b[16:]))
	}
	if scale == 0 || dur == 0 || dur == 0xFFFFFFFF || dur > 1<<50 {
		return 0, false
	}
	return int64(dur * 1000 / scale), true
}

// wavDuration finds the fmt and data chunks of a RIFF WAVE file.
func wavDuration(r SizedReaderAt) (int64, bool) {
	var byteRate, data int64
	for off := int64(12); off+8 <= r.Size(); {
		var h [8]byte
		if !readAt(r, h[:], off) {
			return 0, false
		}
		size := int64(binary.LittleEndian.Uint32(h[4:]))
		switch string(h[:4]) {
		case "fmt ":
			var f [12]byte
			if size < 16 || !readAt(r, f[:], off+8) {
				return 0, false
			}
			byteRate = int64(binary.LittleEndian.Uint32(f[8:]))
		case "data":
			data = min(size, r.Size()-off-8)
		}
		if byteRate > 0 && data > 0 {
			return data * 1000 / byteRate, true
		}
		off += 8 + size + size&1
	}
	return 0, false
}

// opusDuration reads the granule position of the last Ogg page in the file's last 64 KiB.
func opusDuration(r SizedReaderAt, head []byte) (int64, bool) {
	preSkip := int64(binary.LittleEndian.Uint16(head[28+10:]))
	n := min(r.Size(), 64<<10)
	tail := make([]byte, n)
	if !readAt(r, tail, r.Size()-n) {
		return 0, false
	}
	i := bytes.LastIndex(tail, []byte("OggS"))
	if i < 0 || i+14 > len(tail) {
		return 0, false
	}
	g := int64(binary.LittleEndian.Uint64(tail[i+6:]))
	if g <= preSkip {
		return 0, false
	}
	return (g - preSkip) * 1000 / 48000, true
}
