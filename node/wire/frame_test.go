package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func testID(first byte) ID {
	var id ID
	for i := range id {
		id[i] = first + byte(i)
	}
	return id
}

// TestDeliverRoundTrip: ParseDeliver gives back what AppendDeliver encoded, for every
// shape of initial message (none, short, one whose length needs a two-byte uvarint).
func TestDeliverRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial []byte
		message []byte
	}{
		{"no initial", nil, []byte{0xaa}},
		{"short initial", []byte{1, 2, 3}, []byte("ratchet message")},
		{"two-byte length", bytes.Repeat([]byte{0x5c}, 300), bytes.Repeat([]byte{0xc5}, 1000)},
		{"initial of 127", bytes.Repeat([]byte{1}, 127), []byte{2}},
		{"initial of 128", bytes.Repeat([]byte{1}, 128), []byte{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Deliver{ID: testID(0x10), Initial: tc.initial, Message: tc.message}
			// Appending to a non-empty slice leaves the prefix alone.
			b := AppendDeliver([]byte("prefix"), in)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendDeliver overwrote its destination: %q", b[:6])
			}
			b = b[len("prefix"):]
			if want := 1 + IDSize + len(binary.AppendUvarint(nil, uint64(len(tc.initial)))) + len(tc.initial) + len(tc.message); len(b) != want {
				t.Fatalf("frame body of %d bytes, want %d", len(b), want)
			}
			if b[0] != TypeDeliver {
				t.Fatalf("type %#x, want %#x", b[0], TypeDeliver)
			}
			out, err := ParseDeliver(b)
			if err != nil {
				t.Fatal(err)
			}
			if out.ID != in.ID || !bytes.Equal(out.Initial, in.Initial) || !bytes.Equal(out.Message, in.Message) {
				t.Fatalf("round trip: got %+v, want %+v", out, in)
			}
			if (out.Initial == nil) != (len(in.Initial) == 0) {
				t.Fatalf("Initial is nil = %v for %d initial bytes", out.Initial == nil, len(in.Initial))
			}
		})
	}
}

// TestDeliverEmptyInitialIsNone: an empty, non-nil Initial encodes as no initial message,
// and parses back as nil (the receiver tells "no initial" by Initial == nil).
func TestDeliverEmptyInitialIsNone(t *testing.T) {
	a := AppendDeliver(nil, &Deliver{ID: testID(1), Initial: []byte{}, Message: []byte{9}})
	b := AppendDeliver(nil, &Deliver{ID: testID(1), Message: []byte{9}})
	if !bytes.Equal(a, b) {
		t.Fatalf("empty initial %x, no initial %x", a, b)
	}
	d, err := ParseDeliver(a)
	if err != nil {
		t.Fatal(err)
	}
	if d.Initial != nil {
		t.Fatalf("Initial = %#v, want nil", d.Initial)
	}
}

// TestParseDeliverAliases: as documented, the parsed Deliver shares b's memory, so a
// caller that keeps it past the next ReadFrame into the same buffer must copy.
func TestParseDeliverAliases(t *testing.T) {
	b := AppendDeliver(nil, &Deliver{ID: testID(1), Initial: []byte{7}, Message: []byte{8}})
	d, err := ParseDeliver(b)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1], b[len(b)-2] = 0x80, 0x70
	if d.Message[0] != 0x80 || d.Initial[0] != 0x70 {
		t.Fatalf("Deliver does not alias its input: %x %x", d.Initial, d.Message)
	}
}

// TestParseDeliverRefuses: every malformed class of Deliver body is refused with
// ErrMalformed, never a panic or a partial result.
func TestParseDeliverRefuses(t *testing.T) {
	id := testID(0x20)
	good := AppendDeliver(nil, &Deliver{ID: id, Initial: []byte{1, 2}, Message: []byte{3, 4}})
	hdr := append([]byte{TypeDeliver}, id[:]...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"type only", []byte{TypeDeliver}},
		{"truncated id", cat(hdr[:IDSize])},
		{"id without length", hdr},
		{"ack type", cat([]byte{TypeAck}, good[1:])},
		{"prekey type", cat([]byte{TypePrekeys}, good[1:])},
		{"unknown type", cat([]byte{0x00}, good[1:])},
		{"truncated", good[:len(good)-2]},
		{"without message", cat(hdr, []byte{0})},
		{"initial without message", cat(hdr, []byte{2, 1, 2})},
		{"initial length beyond the frame", cat(hdr, []byte{5, 1, 2})},
		{"initial length one beyond", cat(hdr, []byte{3, 1, 2})},
		{"initial length 2^64-1", cat(hdr, binary.AppendUvarint(nil, ^uint64(0)), []byte{1})},
		{"initial length 2^63", cat(hdr, binary.AppendUvarint(nil, 1<<63), []byte{1})},
		{"truncated length uvarint", cat(hdr, []byte{0x80})},
		{"length uvarint overflows 64 bits", cat(hdr, bytes.Repeat([]byte{0xff}, 10), []byte{0x01, 0xaa})},
		{"length uvarint of 11 bytes", cat(hdr, bytes.Repeat([]byte{0x80}, 10), []byte{0x00, 0xaa})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDeliver(tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseDeliver(%x) = %+v, %v; want ErrMalformed", tc.b, d, err)
			}
			if d != nil {
				t.Fatalf("refused Deliver returned with %+v", d)
			}
		})
	}
}

// TestAckRoundTrip: every status survives AppendAck and ParseAck, and has a name.
func TestAckRoundTrip(t *testing.T) {
	names := map[AckStatus]string{AckStored: "stored", AckBlocked: "blocked", AckUndecryptable: "undecryptable", AckRefused: "refused"}
	for st, name := range names {
		in := Ack{ID: testID(byte(st) * 16), Status: st}
		b := AppendAck(nil, in)
		if len(b) != 1+IDSize+1 || b[0] != TypeAck || b[IDSize+1] != byte(st) {
			t.Fatalf("AppendAck(%v) = %x", in, b)
		}
		out, err := ParseAck(b)
		if err != nil || out != in {
			t.Fatalf("ParseAck(%x) = %+v, %v; want %+v", b, out, err, in)
		}
		if st.String() != name {
			t.Fatalf("AckStatus(%d).String() = %q, want %q", byte(st), st.String(), name)
		}
	}
	if s := AckStatus(9).String(); s != "status 9" {
		t.Fatalf("unknown status String = %q", s)
	}
}

// TestParseAckRefuses: wrong length, wrong type and statuses beyond AckRefused are refused
// with ErrMalformed.
func TestParseAckRefuses(t *testing.T) {
	good := AppendAck(nil, Ack{ID: testID(3), Status: AckStored})
	with := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"type only", []byte{TypeAck}},
		{"truncated id", good[:IDSize]},
		{"without status", good[:1+IDSize]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"deliver type", with(0, TypeDeliver)},
		{"error type", with(0, TypeError)},
		{"status 4", with(1+IDSize, 4)},
		{"status 0x80", with(1+IDSize, 0x80)},
		{"status 0xff", with(1+IDSize, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAck(tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseAck(%x) = %+v, %v; want ErrMalformed", tc.b, a, err)
			}
			if a != (Ack{}) {
				t.Fatalf("refused Ack returned as %+v", a)
			}
		})
	}
}

// TestFramesRoundTrip: frames written back to back (pipelined, as the outbox does) are
// read back one by one, with no byte of the next frame consumed early, then io.EOF.
func TestFramesRoundTrip(t *testing.T) {
	frames := [][]byte{
		AppendDeliver(nil, &Deliver{ID: testID(1), Initial: []byte("init"), Message: []byte("m1")}),
		{},
		AppendAck(nil, Ack{ID: testID(2), Status: AckBlocked}),
		bytes.Repeat([]byte{0xee}, 127),
		bytes.Repeat([]byte{0xdd}, 128),
		bytes.Repeat([]byte{0xcc}, 70_000),
		bytes.Repeat([]byte{0xbb}, MaxFrame),
		{TypePrekeys},
	}
	var stream bytes.Buffer
	w := bufio.NewWriter(&stream)
	for _, f := range frames {
		if err := WriteFrame(w, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&stream)
	var buf []byte
	for i, want := range frames {
		got, err := ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(want))
		}
		buf = got
	}
	if _, err := ReadFrame(r, buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestWriteFrameLayout: a frame is the minimal uvarint of its length, then the body.
func TestWriteFrameLayout(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, MaxFrame} {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		body := bytes.Repeat([]byte{7}, n)
		if err := WriteFrame(w, body); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		want := append(binary.AppendUvarint(nil, uint64(n)), body...)
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("frame of %d bytes: header %x, want %x", n, out.Bytes()[:min(4, out.Len())], want[:min(4, len(want))])
		}
	}
}

// TestWriteFrameTooLarge: a body over MaxFrame is refused with ErrTooLarge and nothing is
// written, so the stream stays in frame sync.
func TestWriteFrameTooLarge(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := WriteFrame(w, make([]byte, MaxFrame+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WriteFrame(MaxFrame+1) = %v, want ErrTooLarge", err)
	}
	w.Flush()
	if out.Len() != 0 || w.Buffered() != 0 {
		t.Fatalf("a refused frame wrote %d bytes", out.Len()+w.Buffered())
	}
}

// TestWriteFrameWriterError: an error of the underlying writer is returned.
func TestWriteFrameWriterError(t *testing.T) {
	w := bufio.NewWriterSize(failWriter{}, 16)
	if err := WriteFrame(w, make([]byte, 64)); !errors.Is(err, errWrite) {
		t.Fatalf("WriteFrame over a failing writer = %v", err)
	}
}

var errWrite = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// TestReadFrameRefuses: a length over MaxFrame is ErrTooLarge before any body byte is
// read; a stream that ends inside a frame is io.ErrUnexpectedEOF, never a short frame; only
// a stream that ends on a frame boundary is io.EOF.
func TestReadFrameRefuses(t *testing.T) {
	uv := func(n uint64) []byte { return binary.AppendUvarint(nil, n) }
	for _, tc := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"clean end", nil, io.EOF},
		{"length MaxFrame+1", uv(MaxFrame + 1), ErrTooLarge},
		{"length MaxFrame+1 with body", append(uv(MaxFrame+1), make([]byte, MaxFrame+1)...), ErrTooLarge},
		{"length 2^63", uv(1 << 63), ErrTooLarge},
		{"length 2^64-1", uv(^uint64(0)), ErrTooLarge},
		{"truncated length", []byte{0x80}, io.ErrUnexpectedEOF},
		{"truncated long length", []byte{0xff, 0xff, 0xff}, io.ErrUnexpectedEOF},
		{"truncated body", append(uv(10), 1, 2, 3), io.ErrUnexpectedEOF},
		{"length without body", uv(1), io.ErrUnexpectedEOF},
		{"truncated max frame", append(uv(MaxFrame), make([]byte, MaxFrame-1)...), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.NewReader(tc.stream)
			r := bufio.NewReader(src)
			b, err := ReadFrame(r, nil)
			// A truncated frame must not look like the clean end of a stream to a caller
			// that stops on errors.Is(err, io.EOF).
			if tc.want == io.ErrUnexpectedEOF && errors.Is(err, io.EOF) {
				t.Fatalf("ReadFrame = %v: a truncated frame reads as the end of the stream", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadFrame = %d bytes, %v; want %v", len(b), err, tc.want)
			}
			if b != nil {
				t.Fatalf("refused frame returned %d bytes", len(b))
			}
			if consumed := int(src.Size()) - src.Len() - r.Buffered(); tc.want == ErrTooLarge && consumed > binary.MaxVarintLen64 {
				t.Fatalf("ReadFrame consumed %d bytes of a frame it refused by its length", consumed)
			}
		})
	}
}

// TestReadFrameRefusesPaddedLength: a frame length must be the minimal uvarint, as on the
// relay's protocols (one strictness, internal/frame): 0x80 0x00 for 0 and 0x81 0x00 for 1
// are ErrMalformed, not frames.
func TestReadFrameRefusesPaddedLength(t *testing.T) {
	for _, stream := range [][]byte{{0x80, 0x00}, {0x81, 0x00, 0x01}, {0x81, 0x80, 0x00, 0x01}} {
		if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(stream)), nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadFrame(%x) = %v, want ErrMalformed", stream, err)
		}
	}
}

// TestReadFrameLengthOverflow: a length uvarint that overflows 64 bits is not a frame.
// It is refused with ErrMalformed, a sentinel callers can branch on, as for every other
// malformed input.
func TestReadFrameLengthOverflow(t *testing.T) {
	for _, stream := range [][]byte{
		append(bytes.Repeat([]byte{0xff}, 9), 0x02),
		append(bytes.Repeat([]byte{0x80}, 10), 0x01),
	} {
		_, err := ReadFrame(bufio.NewReader(bytes.NewReader(stream)), nil)
		if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadFrame(%x) = %v, want a refusal", stream, err)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadFrame(%x) = %v, want ErrMalformed", stream, err)
		}
	}
}

// TestReadFrameReusesBuf: a buffer with enough capacity is used for the frame; a smaller
// one is not written to.
func TestReadFrameReusesBuf(t *testing.T) {
	stream := []byte{3, 'a', 'b', 'c', 5, '1', '2', '3', '4', '5'}
	r := bufio.NewReader(bytes.NewReader(stream))
	big := make([]byte, 0, 8)
	b, err := ReadFrame(r, big)
	if err != nil || string(b) != "abc" {
		t.Fatalf("ReadFrame = %q, %v", b, err)
	}
	if &b[0] != &big[:1][0] {
		t.Fatal("a large enough buf was not reused")
	}
	small := make([]byte, 2)
	b, err = ReadFrame(r, small)
	if err != nil || string(b) != "12345" {
		t.Fatalf("ReadFrame = %q, %v", b, err)
	}
	if string(small) != "\x00\x00" {
		t.Fatalf("a too small buf was written: %q", small)
	}
}

// TestReadFrameReaderError: an error of the underlying reader (a reset stream) is returned
// wrapped, not mistaken for a clean end.
func TestReadFrameReaderError(t *testing.T) {
	errReset := errors.New("stream reset")
	r := bufio.NewReader(io.MultiReader(strings.NewReader("\x05ab"), errReader{errReset}))
	if _, err := ReadFrame(r, nil); !errors.Is(err, errReset) {
		t.Fatalf("ReadFrame over a failing reader = %v, want %v", err, errReset)
	}
	r = bufio.NewReader(errReader{errReset})
	if _, err := ReadFrame(r, nil); !errors.Is(err, errReset) || err == io.EOF {
		t.Fatalf("ReadFrame over a failing reader = %v, want %v", err, errReset)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
