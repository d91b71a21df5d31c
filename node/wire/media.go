package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/internal/frame"
)

// MediaProtocol serves media chunk ciphertexts to peers allowed to fetch them (media.go).
const MediaProtocol = "/petrel/media/1.0.0"

// Media protocol limits.
const (
	// MediaFileIDSize is the size of a media file id.
	MediaFileIDSize = 16
	// MaxMediaChunk bounds one chunk ciphertext on the media protocol.
	MaxMediaChunk = 1 << 20
	// MaxMediaFrame bounds one media protocol frame: a response header and one chunk.
	MaxMediaFrame = MaxMediaChunk + 16
	// MaxMediaIndex bounds a chunk index in a request (far above any file the node allows).
	MaxMediaIndex = 1 << 24
)

// Media frame types.
const (
	TypeChunkRequest  byte = 0x10
	TypeChunkResponse byte = 0x11
)

// ChunkStatus says how a node answered a chunk request.
type ChunkStatus byte

// Chunk statuses.
const (
	// ChunkOK: the body is the chunk's ciphertext.
	ChunkOK ChunkStatus = 0
	// ChunkNotFound: the node has no such file or chunk (or not yet).
	ChunkNotFound ChunkStatus = 1
	// ChunkForbidden: the requester may not fetch this file.
	ChunkForbidden ChunkStatus = 2
	// ChunkError: the node failed to read the chunk.
	ChunkError ChunkStatus = 3
)

func (s ChunkStatus) String() string {
	switch s {
	case ChunkOK:
		return "ok"
	case ChunkNotFound:
		return "not found"
	case ChunkForbidden:
		return "forbidden"
	case ChunkError:
		return "error"
	}
	return fmt.Sprintf("status %d", byte(s))
}

// ErrMediaMalformed reports bytes that are not a valid media frame.
var ErrMediaMalformed = errors.New("wire: malformed media frame")

// ChunkRequest asks for one chunk of a file.
type ChunkRequest struct {
	File  [MediaFileIDSize]byte
	Index uint64
}

// ChunkResponse answers a ChunkRequest.
type ChunkResponse struct {
	Status ChunkStatus
	Chunk  []byte // the ciphertext when Status is ChunkOK, else empty
}

// AppendChunkRequest appends r's frame body: 0x10 ‖ file id (16) ‖ uvarint index.
func AppendChunkRequest(b []byte, r ChunkRequest) []byte {
	b = append(b, TypeChunkRequest)
	b = append(b, r.File[:]...)
	return binary.AppendUvarint(b, r.Index)
}

// ParseChunkRequest parses a chunk request frame body.
func ParseChunkRequest(b []byte) (ChunkRequest, error) {
	var r ChunkRequest
	if len(b) < 1+MediaFileIDSize+1 || b[0] != TypeChunkRequest {
		return r, fmt.Errorf("%w: not a chunk request", ErrMediaMalformed)
	}
	copy(r.File[:], b[1:])
	rest := b[1+MediaFileIDSize:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || k != len(rest) || k != uvarintLen(n) {
		return ChunkRequest{}, fmt.Errorf("%w: chunk index", ErrMediaMalformed)
	}
	if n >= MaxMediaIndex {
		return ChunkRequest{}, fmt.Errorf("%w: chunk index %d out of range", ErrMediaMalformed, n)
	}
	r.Index = n
	return r, nil
}

// AppendChunkResponse appends r's frame body: 0x11 ‖ status (1) ‖ chunk ciphertext.
func AppendChunkResponse(b []byte, r ChunkResponse) []byte {
	b = append(b, TypeChunkResponse, byte(r.Status))
	return append(b, r.Chunk...)
}

// ParseChunkResponse parses a chunk response frame body. Chunk aliases b.
func ParseChunkResponse(b []byte) (ChunkResponse, error) {
	if len(b) < 2 || b[0] != TypeChunkResponse {
		return ChunkResponse{}, fmt.Errorf("%w: not a chunk response", ErrMediaMalformed)
	}
	r := ChunkResponse{Status: ChunkStatus(b[1])}
	if r.Status > ChunkError {
		return ChunkResponse{}, fmt.Errorf("%w: chunk status %d", ErrMediaMalformed, b[1])
	}
	if r.Status != ChunkOK && len(b) > 2 {
		return ChunkResponse{}, fmt.Errorf("%w: body on a %v response", ErrMediaMalformed, r.Status)
	}
	if len(b)-2 > MaxMediaChunk {
		return ChunkResponse{}, fmt.Errorf("%w: chunk of %d bytes", ErrMediaMalformed, len(b)-2)
	}
	if r.Status == ChunkOK {
		r.Chunk = b[2:]
	}
	return r, nil
}

func uvarintLen(n uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], n)
}

// mediaCodec is the media protocol's framing: the same uvarint-length frames as every
// petrel stream, bounded by MaxMediaFrame.
func mediaCodec() frame.Codec {
	return frame.Codec{Name: "wire media", Max: MaxMediaFrame, Malformed: ErrMalformed, TooLarge: ErrTooLarge}
}

// WriteMediaFrame writes one media protocol frame to w (not flushed).
func WriteMediaFrame(w *bufio.Writer, body []byte) error { return mediaCodec().Write(w, body) }

// ReadMediaFrame reads one media protocol frame of at most MaxMediaFrame bytes. buf is
// reused when large enough; the result is valid until the next call with the same buf.
func ReadMediaFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	return mediaCodec().Read(r, buf, 0)
}

// WriteChunkResponse writes r as one media frame (not flushed) without copying the chunk:
// the same bytes as WriteMediaFrame(w, AppendChunkResponse(nil, r)).
func WriteChunkResponse(w *bufio.Writer, r ChunkResponse) error {
	n := 2 + len(r.Chunk)
	if n > MaxMediaFrame {
		return ErrTooLarge
	}
	var hdr [binary.MaxVarintLen64 + 2]byte
	k := binary.PutUvarint(hdr[:], uint64(n))
	hdr[k], hdr[k+1] = TypeChunkResponse, byte(r.Status)
	if _, err := w.Write(hdr[:k+2]); err != nil {
		return err
	}
	_, err := w.Write(r.Chunk)
	return err
}
