package devicelink

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/petrel-chat/petrel/internal/frame"
)

// Protocol is the libp2p protocol id of device linking and history transfer.
const Protocol = "/petrel/devicelink/1.0.0"

// Frame types (the first byte of every frame body).
const (
	typeHello   byte = 0x01 // new device → primary: JSON hello
	typeWelcome byte = 0x02 // primary → new device: JSON welcome
	typeRefused byte = 0x03 // primary → new device: nothing else (no reason: a thief learns nothing)
	typeResume  byte = 0x04 // new device → primary: JSON resume
	typePull    byte = 0x05 // new device → primary: the cursor (the last key it holds; empty: from the start)
	typeChunk   byte = 0x06 // primary → new device: records (binary, below)
	typeDone    byte = 0x07 // new device → primary: the transfer is complete
)

// Limits.
const (
	maxFrame    = 2 << 20   // one frame
	maxHello    = 16 << 10  // a hello or resume frame
	chunkTarget = 256 << 10 // a chunk closes once its records pass this size
	// limitedChunkTarget is the chunk size over a limited (relayed) connection: a relay's
	// circuit carries little (128 KiB by default) before it is closed, so several chunks
	// must fit one circuit for a resume on the next to make progress.
	limitedChunkTarget = 24 << 10
	maxChunkRecs       = 4096
	// RecordVersion is the version byte of a chunk's records.
	RecordVersion = 0x01
)

func codec() frame.Codec {
	return frame.Codec{Name: "devicelink", Max: maxFrame, Malformed: ErrMalformed, TooLarge: ErrMalformed}
}

// hello is the new device's first frame.
type hello struct {
	V      int      `json:"v"`
	Link   string   `json:"link"`  // Link.ID
	Key    []byte   `json:"key"`   // the new device's key (identity.PublicIdentity wire form)
	Name   string   `json:"name"`  // the device's name ("laptop")
	Addrs  []string `json:"addrs"` // its listen addresses, without /p2p/
	Relays []string `json:"relays"`
	Proof  []byte   `json:"proof"` // proof(key, labelNewProof, primary, device, Key)
	Sig    []byte   `json:"sig"`   // by Key under domainHello over helloTranscript: the device holds Key
}

// welcome is the primary's answer to a good hello or resume.
type welcome struct {
	V       int    `json:"v"`
	Proof   []byte `json:"proof"`            // proof(key, labelPrimaryProof, ...): the primary knows the secret
	Account []byte `json:"account"`          // the account identity's public key
	List    []byte `json:"list"`             // the signed device list that adds the new device
	Resume  []byte `json:"resume,omitempty"` // the resume credential (hello only)
}

// resume is a linked device's request to continue its transfer.
type resume struct {
	V     int    `json:"v"`
	ID    string `json:"id"`    // linkID(credential)
	Proof []byte `json:"proof"` // proof(resumeKey(credential), labelResumeProof, primary, device, nil)
}

// record is one store record of the history transfer.
type record struct {
	Key, Value []byte
}

// writeFrame writes t ‖ body as one frame and flushes.
func writeFrame(w *bufio.Writer, t byte, body []byte) error {
	if err := codec().Write(w, append([]byte{t}, body...)); err != nil {
		return err
	}
	return w.Flush()
}

func writeJSON(w *bufio.Writer, t byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFrame(w, t, b)
}

// readFrame reads one frame of at most limit bytes and returns its type and body.
func readFrame(r *bufio.Reader, limit int) (byte, []byte, error) {
	b, err := codec().Read(r, nil, limit)
	if err != nil {
		return 0, nil, err
	}
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	return b[0], b[1:], nil
}

// jsonUnmarshal decodes strictly: one object, no unknown fields, nothing after it.
func jsonUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// appendChunk encodes a chunk:
//
//	0x01 (RecordVersion) ‖ done (0|1) ‖ uvarint n ‖ (uvarint len ‖ key ‖ uvarint len ‖ value)ⁿ
func appendChunk(b []byte, recs []record, done bool) []byte {
	b = append(b, RecordVersion, 0)
	if done {
		b[len(b)-1] = 1
	}
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.Key)))
		b = append(b, r.Key...)
		b = binary.AppendUvarint(b, uint64(len(r.Value)))
		b = append(b, r.Value...)
	}
	return b
}

// parseChunk decodes a chunk strictly. Keys must be allowed (Transferred) and strictly
// increasing after the cursor `after`, so a primary cannot write outside the history or
// make the new device rewind.
func parseChunk(b []byte, after []byte) (recs []record, done bool, err error) {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: chunk: "+f, append([]any{ErrMalformed}, a...)...)
	}
	if len(b) < 3 || b[0] != RecordVersion || b[1] > 1 {
		return nil, false, bad("header")
	}
	done = b[1] == 1
	b = b[2:]
	n, k := uvarint(b)
	if k <= 0 || n > maxChunkRecs {
		return nil, false, bad("count")
	}
	b = b[k:]
	field := func(max uint64) ([]byte, bool) {
		l, k := uvarint(b)
		if k <= 0 || l > max || l > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(l)]
		b = b[k+int(l):]
		return v, true
	}
	prev := after
	for i := range n {
		key, ok := field(maxKey)
		if !ok || len(key) == 0 {
			return nil, false, bad("record %d key", i)
		}
		val, ok := field(maxFrame)
		if !ok {
			return nil, false, bad("record %d value", i)
		}
		if !Transferred(key) {
			return nil, false, bad("record %d: key %.40q is not history", i, key)
		}
		if bytes.Compare(key, prev) <= 0 {
			return nil, false, bad("record %d out of order", i)
		}
		prev = key
		recs = append(recs, record{Key: bytes.Clone(key), Value: bytes.Clone(val)})
	}
	if len(b) != 0 {
		return nil, false, bad("%d trailing bytes", len(b))
	}
	return recs, done, nil
}

// uvarint reads a minimal uvarint (a longer form of the same number is refused: k = 0).
func uvarint(b []byte) (uint64, int) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
		return 0, 0
	}
	return n, k
}
