package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

var (
	errMalformed = errors.New("test: malformed")
	errTooLarge  = errors.New("test: too large")
)

func codec() Codec {
	return Codec{Name: "test", Max: 1000, Malformed: errMalformed, TooLarge: errTooLarge}
}

func TestRoundTripAndCleanEnd(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	bodies := [][]byte{{}, {1}, bytes.Repeat([]byte{7}, 127), bytes.Repeat([]byte{8}, 128), bytes.Repeat([]byte{9}, 1000)}
	for _, b := range bodies {
		if err := codec().Write(w, b); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if got := out.Bytes()[:1]; got[0] != 0 {
		t.Fatalf("empty body's length is %x, want 00", got)
	}
	r := bufio.NewReader(&out)
	for i, want := range bodies {
		got, err := codec().Read(r, nil, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
		}
	}
	if _, err := codec().Read(r, nil, 0); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestWriteRefusesOverMax(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := codec().Write(w, make([]byte, 1001)); !errors.Is(err, errTooLarge) {
		t.Fatalf("got %v", err)
	}
	w.Flush()
	if out.Len() != 0 {
		t.Fatalf("%d bytes written", out.Len())
	}
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream []byte
		limit  int
		want   error
	}{
		{"non-minimal zero", []byte{0x80, 0x00}, 0, errMalformed},
		{"non-minimal one", []byte{0x81, 0x00, 0xaa}, 0, errMalformed},
		{"overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, errMalformed},
		{"over max", []byte{0xe9, 0x07}, 0, errTooLarge},           // 1001
		{"over the caller's limit", []byte{0x0b}, 10, errTooLarge}, // 11
		{"end inside the length", []byte{0x80}, 0, io.ErrUnexpectedEOF},
		{"end inside the body", []byte{0x03, 1, 2}, 0, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := codec().Read(bufio.NewReader(bytes.NewReader(tc.stream)), nil, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUvarintMinimal(t *testing.T) {
	if v, k, err := Uvarint([]byte{0xac, 0x02, 0xff}, errMalformed); v != 300 || k != 2 || err != nil {
		t.Fatalf("got %d %d %v", v, k, err)
	}
	for _, b := range [][]byte{{}, {0x80}, {0x80, 0x00}, {0xac, 0x82, 0x00}} {
		if _, _, err := Uvarint(b, errMalformed); !errors.Is(err, errMalformed) {
			t.Errorf("Uvarint(%x) = %v, want malformed", b, err)
		}
	}
}

// FuzzRead: whatever arrives, Read returns a frame that re-encodes to the bytes it took, or
// an error; never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte{0x02, 1, 2})
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bufio.NewReader(bytes.NewReader(stream))
		got, err := codec().Read(r, nil, 0)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := codec().Write(w, got); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.HasPrefix(stream, out.Bytes()) {
			t.Fatalf("read %x from %x", out.Bytes(), stream)
		}
	})
}
