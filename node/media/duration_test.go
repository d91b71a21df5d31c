package media

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func wavFile(seconds int) []byte {
	const rate, channels, bits = 8000, 1, 16
	data := make([]byte, seconds*rate*channels*bits/8)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))
	binary.Write(&b, le, uint16(1))
	binary.Write(&b, le, uint16(channels))
	binary.Write(&b, le, uint32(rate))
	binary.Write(&b, le, uint32(rate*channels*bits/8))
	binary.Write(&b, le, uint16(channels*bits/8))
	binary.Write(&b, le, uint16(bits))
	b.WriteString("data")
	binary.Write(&b, le, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func mp4File(timescale, dur uint32) []byte {
	box := func(typ string, body []byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		return append(append(out, typ...), body...)
	}
	mvhd := make([]byte, 100)
	binary.BigEndian.PutUint32(mvhd[12:], timescale)
	binary.BigEndian.PutUint32(mvhd[16:], dur)
	var b []byte
	b = append(b, box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))...)
	b = append(b, box("mdat", make([]byte, 5000))...)
	b = append(b, box("moov", append(box("mvhd", mvhd), box("trak", make([]byte, 20))...))...)
	return b
}

func oggOpusFile(granule uint64, preSkip uint16) []byte {
	page := func(g uint64, payload []byte) []byte {
		h := []byte("OggS\x00\x00")
		h = binary.LittleEndian.AppendUint64(h, g)
		h = append(h, make([]byte, 12)...) // serial, sequence, crc
		h = append(h, 1, byte(len(payload)))
		return append(h, payload...)
	}
	head := []byte("OpusHead\x01\x02")
	head = binary.LittleEndian.AppendUint16(head, preSkip)
	head = append(head, make([]byte, 7)...)
	b := page(0, head)
	b = append(b, page(0, []byte("OpusTags\x00\x00\x00\x00"))...)
	b = append(b, page(granule/2, make([]byte, 200))...)
	return append(b, page(granule, make([]byte, 100))...)
}

func TestDurationOfAudioAndVideo(t *testing.T) {
	ts := newTestStore(t, Options{})
	cases := []struct {
		name, mime string
		data       []byte
		want       int64
	}{
		{"note.wav", "audio/wav", wavFile(3), 3000},
		{"clip.mp4", "video/mp4", mp4File(600, 600*75/10), 7500},
		{"voice.ogg", "audio/ogg; codecs=opus", oggOpusFile(48000*4+312, 312), 4000},
	}
	for _, c := range cases {
		a, err := ts.Put(ctxT(t), bytes.NewReader(c.data), c.name, c.mime)
		if err != nil {
			t.Fatal(err)
		}
		if a.DurationMS != c.want {
			t.Errorf("%s: duration %d ms, want %d", c.name, a.DurationMS, c.want)
		}
	}
	a, _ := ts.Put(ctxT(t), bytes.NewReader(randomBytes(1, 1000)), "x.mp3", "audio/mpeg")
	if a.DurationMS != 0 {
		t.Errorf("unknown format got duration %d", a.DurationMS)
	}
}
