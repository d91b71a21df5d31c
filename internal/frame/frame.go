package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Codec names a protocol's frames: its limit and the errors its callers test for.
type Codec struct {
	// Name prefixes error messages ("wire", "relaywire").
	Name string
	// Max bounds one frame's body.
	Max int
	// Malformed is wrapped by every error for bytes that are not a frame (an overflowing or
	// non-minimal length); TooLarge by every error for a length over the limit.
	Malformed, TooLarge error
}

// Write writes one frame to w (not flushed). A body over Max is refused with TooLarge and
// nothing is written.
func (c Codec) Write(w *bufio.Writer, body []byte) error {
	if len(body) > c.Max {
		return c.TooLarge
	}
	var hdr [binary.MaxVarintLen64]byte
	if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(body)))]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// Read reads one frame of at most limit bytes (Max when limit is 0 or larger). io.EOF
// alone means the stream ended cleanly between frames; an end inside a frame is
// io.ErrUnexpectedEOF. buf is reused when large enough; the result is valid until the next
// call with the same buf.
func (c Codec) Read(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	if limit <= 0 || limit > c.Max {
		limit = c.Max
	}
	n, err := c.readLength(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes", c.TooLarge, n)
	}
	if uint64(cap(buf)) >= n {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%s: frame body: %w", c.Name, noEOF(err))
		}
		return buf, nil
	}
	// Grow with the bytes that actually arrive: a peer announcing a large frame and sending
	// nothing holds no memory.
	var bb bytes.Buffer
	if _, err := io.CopyN(&bb, r, int64(n)); err != nil {
		return nil, fmt.Errorf("%s: frame body: %w", c.Name, noEOF(err))
	}
	return bb.Bytes(), nil
}

// readLength reads a minimal uvarint frame length: io.EOF before its first byte is a clean
// end, an end inside it io.ErrUnexpectedEOF, more than 64 bits or a non-minimal form
// Malformed.
func (c Codec) readLength(r io.ByteReader) (uint64, error) {
	var n uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 {
				err = noEOF(err)
			}
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("%s: frame length: %w", c.Name, err)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			break
		}
		if b == 0 && i > 0 {
			return 0, fmt.Errorf("%w: non-minimal frame length", c.Malformed)
		}
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: frame length overflows", c.Malformed)
}

// Uvarint reads a minimal uvarint from the start of b and returns it with its length; a
// truncated, overflowing or non-minimal one is an error wrapping malformed.
func Uvarint(b []byte, malformed error) (uint64, int, error) {
	v, k := binary.Uvarint(b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, v)) {
		return 0, 0, fmt.Errorf("%w: uvarint", malformed)
	}
	return v, k, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
