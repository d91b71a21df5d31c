package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "recompute the encoded bytes in testdata/vectors.json from their inputs (deliberately: it changes the known answers)")

const vectorsFile = "testdata/vectors.json"

// vectorSet holds fixed frames and contents with their exact bytes, so that any change to
// what goes on the wire fails a test, and inputs every decoder must refuse.
type vectorSet struct {
	Comment string          `json:"comment"`
	Deliver []deliverVector `json:"deliver"`
	Ack     []ackVector     `json:"ack"`
	Content []contentVector `json:"content"`
	Invalid []invalidVector `json:"invalid"`
}

// deliverVector: AppendDeliver of (ID, Initial, Message) is Body, WriteFrame of Body is
// Frame, and reading and parsing Frame gives the inputs back. Hex throughout; Initial and
// Message are opaque bytes here (the PQXDH and ratchet packages own their vectors).
type deliverVector struct {
	Comment string `json:"comment"`
	ID      string `json:"id"`
	Initial string `json:"initial"`
	Message string `json:"message"`
	Body    string `json:"body"`
	Frame   string `json:"frame"`
}

type ackVector struct {
	Comment    string `json:"comment"`
	ID         string `json:"id"`
	Status     byte   `json:"status"`
	StatusName string `json:"status_name"`
	Body       string `json:"body"`
	Frame      string `json:"frame"`
}

// contentVector: Marshal of Fields is exactly JSON, and ParseContent of JSON is Fields.
// Fields has its own field names so a change of the wire's JSON names shows.
type contentVector struct {
	Comment string        `json:"comment"`
	Fields  vectorContent `json:"fields"`
	JSON    string        `json:"json"`
}

type vectorContent struct {
	Kind    string      `json:"kind"`
	ID      string      `json:"id"`
	Seq     uint64      `json:"seq"`
	TS      string      `json:"timestamp"`
	Body    string      `json:"body,omitempty"`
	ReplyTo string      `json:"reply_to,omitempty"`
	Target  string      `json:"target,omitempty"`
	Emoji   string      `json:"emoji,omitempty"`
	Remove  bool        `json:"remove,omitempty"`
	Status  string      `json:"status,omitempty"`
	IDs     []string    `json:"ids,omitempty"`
	From    uint64      `json:"from,omitempty"`
	To      uint64      `json:"to,omitempty"`
	Card    *vectorCard `json:"card,omitempty"`
}

type vectorCard struct {
	Name   string   `json:"name"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	Relays []string `json:"relays"`
}

func (v vectorContent) content() *Content {
	c := &Content{
		Kind: v.Kind, ID: v.ID, Seq: v.Seq, TS: v.TS, Body: v.Body, ReplyTo: v.ReplyTo,
		Target: v.Target, Emoji: v.Emoji, Remove: v.Remove, Status: v.Status, IDs: v.IDs,
		From: v.From, To: v.To,
	}
	if v.Card != nil {
		c.Card = &Card{Name: v.Card.Name, PeerID: v.Card.PeerID, Addrs: v.Card.Addrs, Relays: v.Card.Relays}
	}
	return c
}

// invalidVector: Decoder ("deliver", "ack", "frame" — ReadFrame over the bytes — or
// "content") refuses Hex (or Text, for contents) with Error.
type invalidVector struct {
	Comment string `json:"comment"`
	Decoder string `json:"decoder"`
	Hex     string `json:"hex,omitempty"`
	Text    string `json:"text,omitempty"`
	Error   string `json:"error"` // "malformed", "too_large" or "truncated"
}

var vectorErrors = map[string]error{
	"malformed": ErrMalformed,
	"too_large": ErrTooLarge,
	"truncated": io.ErrUnexpectedEOF,
}

func (v invalidVector) input(tb testing.TB) []byte {
	if v.Text != "" {
		return []byte(v.Text)
	}
	return unhex(tb, v.Hex)
}

// decode runs the vector's decoder on b.
func decode(decoder string, b []byte) error {
	switch decoder {
	case "deliver":
		_, err := ParseDeliver(b)
		return err
	case "ack":
		_, err := ParseAck(b)
		return err
	case "frame":
		_, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), nil)
		return err
	case "content":
		_, err := ParseContent(b)
		return err
	}
	return errors.New("unknown decoder " + decoder)
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("vector hex %q: %v", s, err)
	}
	return b
}

func vectorID(tb testing.TB, s string) ID {
	tb.Helper()
	var id ID
	if b := unhex(tb, s); len(b) != IDSize {
		tb.Fatalf("vector id %q is not %d bytes", s, IDSize)
	} else {
		copy(id[:], b)
	}
	return id
}

// loadVectors reads the vectors and fails on an empty set.
func loadVectors(tb testing.TB) vectorSet {
	tb.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var vs vectorSet
	if err := dec.Decode(&vs); err != nil {
		tb.Fatalf("known-answer vectors: %v", err)
	}
	if len(vs.Deliver) == 0 || len(vs.Ack) == 0 || len(vs.Content) == 0 || len(vs.Invalid) == 0 {
		tb.Fatal("known-answer vectors: a set is empty")
	}
	return vs
}

func frameBytes(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := WriteFrame(w, body); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// readOne reads exactly one frame from stream and checks nothing follows it.
func readOne(tb testing.TB, stream []byte) []byte {
	tb.Helper()
	r := bufio.NewReader(bytes.NewReader(stream))
	b, err := ReadFrame(r, nil)
	if err != nil {
		tb.Fatalf("ReadFrame(%x): %v", stream, err)
	}
	if _, err := ReadFrame(r, nil); err != io.EOF {
		tb.Fatalf("after the frame: %v, want io.EOF", err)
	}
	return b
}

// TestVectors checks every known answer: encoders give the exact bytes, decoders give the
// exact values, and every invalid input is refused with its error.
func TestVectors(t *testing.T) {
	if *update {
		updateVectors(t)
	}
	vs := loadVectors(t)
	withInitial, withoutInitial := false, false
	for _, v := range vs.Deliver {
		t.Run("deliver/"+v.Comment, func(t *testing.T) {
			d := &Deliver{ID: vectorID(t, v.ID), Initial: unhex(t, v.Initial), Message: unhex(t, v.Message)}
			if len(d.Initial) == 0 {
				d.Initial = nil
				withoutInitial = true
			} else {
				withInitial = true
			}
			body, frame := unhex(t, v.Body), unhex(t, v.Frame)
			if got := AppendDeliver(nil, d); !bytes.Equal(got, body) {
				t.Fatalf("AppendDeliver = %x\nwant %x", got, body)
			}
			if got := frameBytes(t, body); !bytes.Equal(got, frame) {
				t.Fatalf("WriteFrame = %x\nwant %x", got, frame)
			}
			got, err := ParseDeliver(readOne(t, frame))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Fatalf("ParseDeliver = %+v, want %+v", got, d)
			}
		})
	}
	statuses := map[AckStatus]bool{}
	for _, v := range vs.Ack {
		t.Run("ack/"+v.Comment, func(t *testing.T) {
			a := Ack{ID: vectorID(t, v.ID), Status: AckStatus(v.Status)}
			statuses[a.Status] = true
			body, frame := unhex(t, v.Body), unhex(t, v.Frame)
			if got := AppendAck(nil, a); !bytes.Equal(got, body) {
				t.Fatalf("AppendAck = %x, want %x", got, body)
			}
			if got := frameBytes(t, body); !bytes.Equal(got, frame) {
				t.Fatalf("WriteFrame = %x, want %x", got, frame)
			}
			got, err := ParseAck(readOne(t, frame))
			if err != nil || got != a {
				t.Fatalf("ParseAck = %+v, %v; want %+v", got, err, a)
			}
			if a.Status.String() != v.StatusName {
				t.Fatalf("status %d is %q, want %q", v.Status, a.Status.String(), v.StatusName)
			}
		})
	}
	contentKinds := map[string]bool{}
	for _, v := range vs.Content {
		t.Run("content/"+v.Comment, func(t *testing.T) {
			c := v.Fields.content()
			contentKinds[c.Kind] = true
			got, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.JSON {
				t.Fatalf("Marshal = %s\nwant    %s", got, v.JSON)
			}
			back, err := ParseContent([]byte(v.JSON))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("ParseContent = %+v\nwant %+v", back, c)
			}
		})
	}
	for _, v := range vs.Invalid {
		t.Run("invalid/"+v.Decoder+"/"+v.Comment, func(t *testing.T) {
			want := vectorErrors[v.Error]
			if want == nil {
				t.Fatalf("unknown error %q", v.Error)
			}
			if err := decode(v.Decoder, v.input(t)); !errors.Is(err, want) {
				t.Fatalf("%s refused with %v, want %v", v.Decoder, err, want)
			}
		})
	}
	// The set must keep covering every shape.
	if !withInitial || !withoutInitial {
		t.Error("vectors: want a Deliver with and one without an initial message")
	}
	for _, s := range []AckStatus{AckStored, AckBlocked, AckUndecryptable, AckRefused} {
		if !statuses[s] {
			t.Errorf("vectors: no ack with status %v", s)
		}
	}
	for k := range kinds {
		if !contentKinds[k] {
			t.Errorf("vectors: no content of kind %q", k)
		}
	}
}

// updateVectors recomputes the encoded bytes of every valid vector from its inputs.
func updateVectors(t *testing.T) {
	vs := loadVectors(t)
	for i, v := range vs.Deliver {
		d := &Deliver{ID: vectorID(t, v.ID), Initial: unhex(t, v.Initial), Message: unhex(t, v.Message)}
		body := AppendDeliver(nil, d)
		vs.Deliver[i].Body = hex.EncodeToString(body)
		vs.Deliver[i].Frame = hex.EncodeToString(frameBytes(t, body))
	}
	for i, v := range vs.Ack {
		a := Ack{ID: vectorID(t, v.ID), Status: AckStatus(v.Status)}
		body := AppendAck(nil, a)
		vs.Ack[i].StatusName = a.Status.String()
		vs.Ack[i].Body = hex.EncodeToString(body)
		vs.Ack[i].Frame = hex.EncodeToString(frameBytes(t, body))
	}
	for i, v := range vs.Content {
		b, err := v.Fields.content().Marshal()
		if err != nil {
			t.Fatalf("content vector %q: %v", v.Comment, err)
		}
		vs.Content[i].JSON = string(b)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("rewrote " + vectorsFile)
}
