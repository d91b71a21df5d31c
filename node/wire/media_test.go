package wire

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func TestChunkRequestRoundTrip(t *testing.T) {
	for _, idx := range []uint64{0, 1, 127, 128, 99, MaxMediaIndex - 1} {
		r := ChunkRequest{Index: idx}
		r.File[0], r.File[15] = 0xAB, 0xCD
		got, err := ParseChunkRequest(AppendChunkRequest(nil, r))
		if err != nil || got != r {
			t.Fatalf("index %d: got %+v, %v", idx, got, err)
		}
	}
}

func TestChunkRequestRefusesMalformed(t *testing.T) {
	good := AppendChunkRequest(nil, ChunkRequest{Index: 300})
	cases := map[string][]byte{
		"empty":         nil,
		"wrong type":    append([]byte{TypeChunkResponse}, good[1:]...),
		"no index":      good[:1+MediaFileIDSize],
		"trailing byte": append(bytes.Clone(good), 0),
		"non-minimal":   append(bytes.Clone(good[:1+MediaFileIDSize]), 0x80, 0x00),
		"huge index":    AppendChunkRequest(nil, ChunkRequest{Index: MaxMediaIndex}),
	}
	for name, b := range cases {
		if _, err := ParseChunkRequest(b); !errors.Is(err, ErrMediaMalformed) {
			t.Errorf("%s: err = %v, want ErrMediaMalformed", name, err)
		}
	}
}

func TestChunkResponseRoundTrip(t *testing.T) {
	ok := ChunkResponse{Status: ChunkOK, Chunk: []byte("ciphertext")}
	got, err := ParseChunkResponse(AppendChunkResponse(nil, ok))
	if err != nil || got.Status != ChunkOK || !bytes.Equal(got.Chunk, ok.Chunk) {
		t.Fatalf("ok: %+v %v", got, err)
	}
	for _, st := range []ChunkStatus{ChunkNotFound, ChunkForbidden, ChunkError} {
		got, err := ParseChunkResponse(AppendChunkResponse(nil, ChunkResponse{Status: st}))
		if err != nil || got.Status != st || got.Chunk != nil {
			t.Fatalf("%v: %+v %v", st, got, err)
		}
	}
	bad := map[string][]byte{
		"short":          {TypeChunkResponse},
		"unknown status": {TypeChunkResponse, 9},
		"body on error":  {TypeChunkResponse, byte(ChunkForbidden), 1},
	}
	for name, b := range bad {
		if _, err := ParseChunkResponse(b); !errors.Is(err, ErrMediaMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestMediaFrameCarriesAFullChunk(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	body := AppendChunkResponse(nil, ChunkResponse{Status: ChunkOK, Chunk: make([]byte, MaxMediaChunk)})
	if err := WriteMediaFrame(w, body); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	got, err := ReadMediaFrame(bufio.NewReader(&buf), nil)
	if err != nil || len(got) != len(body) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	var direct bytes.Buffer
	dw := bufio.NewWriter(&direct)
	resp := ChunkResponse{Status: ChunkOK, Chunk: []byte("abc")}
	WriteChunkResponse(dw, resp)
	dw.Flush()
	var framed bytes.Buffer
	fw := bufio.NewWriter(&framed)
	WriteMediaFrame(fw, AppendChunkResponse(nil, resp))
	fw.Flush()
	if !bytes.Equal(direct.Bytes(), framed.Bytes()) {
		t.Fatal("WriteChunkResponse differs from the framed response")
	}
	if err := WriteMediaFrame(w, make([]byte, MaxMediaFrame+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func FuzzMediaFrames(f *testing.F) {
	f.Add(AppendChunkRequest(nil, ChunkRequest{Index: 5}))
	f.Add(AppendChunkResponse(nil, ChunkResponse{Status: ChunkOK, Chunk: []byte{1, 2, 3}}))
	f.Add([]byte{TypeChunkResponse, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseChunkRequest(b); err == nil {
			if !bytes.Equal(AppendChunkRequest(nil, r), b) {
				t.Fatalf("request does not re-encode to its bytes")
			}
		}
		if r, err := ParseChunkResponse(b); err == nil {
			if !bytes.Equal(AppendChunkResponse(nil, r), b) {
				t.Fatalf("response does not re-encode to its bytes")
			}
		}
		_, _ = ReadMediaFrame(bufio.NewReader(bytes.NewReader(b)), nil)
	})
}
