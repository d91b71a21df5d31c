package history

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// everyField is a record with every field set.
func everyField() *Message {
	return &Message{
		V: Version, ID: "m7", ConversationID: "d3", ClientMsgID: "c-9", SenderID: "u1",
		Body: "héllo\x00world", ReplyTo: ptr(""), SentAt: -5, ReceivedAt: 1 << 50,
		Order: "0001/u1-m7", Status: "failed", Error: "no route", Delivered: 2, Read: 1, Total: 3,
		EditedAt: ptr(int64(77)), Deleted: true, ContactID: "k1", Incoming: true, EditTS: "ts1",
		Reactions: map[string][]string{"+1": {"u2", "u3"}, "♥": {"u1"}},
		ReactTS:   Reactions{"u2": {"+1": {TS: "a", Present: true}, "x": {TS: "b"}}, "u3": {}},
		Disappear: 3600, ExpiresAt: ptr(int64(0)), System: true, Sealed: true, Media: []string{"f1", "f2"},
		Attachments: []Attachment{
			{MediaID: "f1", Name: "a.png", MIME: "image/png", Size: 1 << 40, SHA256: "ab", Thumbnail: ptr("f2"),
				Width: 640, Height: 480, DurationMS: -1, State: "downloading", Received: 99},
			{MediaID: "f3"},
		},
	}
}

// TestMessageRecordRoundTrips: a record written in the binary layout reads back equal,
// field for field, to what JSON would have kept (nil and empty collections alike absent).
func TestMessageRecordRoundTrips(t *testing.T) {
	for name, r := range map[string]*Message{
		"every field": everyField(),
		"minimal":     {V: Version, ID: "m1"},
		"empty maps":  {V: Version, ID: "m2", Reactions: map[string][]string{}, ReactTS: Reactions{}, Media: []string{}},
	} {
		b := EncodeMessage(r)
		if b[0] != MsgTag {
			t.Fatalf("%s: first byte %#x", name, b[0])
		}
		var got Message
		if err := DecodeMessage(b, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var want Message
		if err := json.Unmarshal(js, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, &want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		if again := EncodeMessage(&got); !bytes.Equal(again, b) {
			t.Errorf("%s: encoding is not stable", name)
		}
	}
}

// TestMessageRecordKnownAnswer: the binary layout is the one docs/PROTOCOL.md describes,
// byte for byte (testdata/message-record-v1.txt, written by hand from the description).
func TestMessageRecordKnownAnswer(t *testing.T) {
	src, err := os.ReadFile("testdata/message-record-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var hx strings.Builder
	for line := range strings.Lines(string(src)) {
		line, _, _ = strings.Cut(line, "#")
		hx.WriteString(strings.Join(strings.Fields(line), ""))
	}
	want, err := hex.DecodeString(hx.String())
	if err != nil {
		t.Fatal(err)
	}
	r := &Message{ID: "m1", ConversationID: "d1", ClientMsgID: "c1", SenderID: "u1", Body: "hi",
		Order: "o1", Status: "sent", ContactID: "k1", SentAt: 1, ReceivedAt: 2, Delivered: 1, Total: 1,
		ReplyTo: ptr("m0"), Incoming: true, ExpiresAt: ptr(int64(1000)), Reactions: map[string][]string{"+1": {"u2"}}}
	if got := EncodeMessage(r); !bytes.Equal(got, want) {
		t.Fatalf("encoding\n got %x\nwant %x", got, want)
	}
	var got Message
	if err := DecodeMessage(want, &got); err != nil {
		t.Fatal(err)
	}
	r.V = Version
	if !reflect.DeepEqual(&got, r) {
		t.Fatalf("decoded %+v, want %+v", got, *r)
	}
}

// TestJSONMessageRecordsStillRead: a message record written as JSON by an earlier petrel
// (store format 1) reads as before, alone and beside binary ones, and is binary once
// written again.
func TestJSONMessageRecordsStillRead(t *testing.T) {
	st := storetest.Open(t)
	old := everyField()
	old.Sealed, old.Media = false, nil // a record with its content
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := store.PutJSON(tx, KeyMsg(old.ID), old); err != nil {
			return err
		}
		return PutMessage(tx, nil, &Message{ID: "m8", Body: "new"})
	})
	_ = st.View(func(tx *store.Tx) error {
		r, err := GetMessage(tx, nil, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, old) {
			t.Errorf("JSON record read as %+v, want %+v", *r, *old)
		}
		var ids []string
		if err := Messages(tx, nil, func(_ []byte, r *Message) (bool, error) {
			ids = append(ids, r.ID+":"+r.Body)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := []string{old.ID + ":" + old.Body, "m8:new"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("Messages: %q, want %q", ids, want)
		}
		return nil
	})
	storetest.Update(t, st, func(tx *store.Tx) error { return PutMessage(tx, nil, old) })
	_ = st.View(func(tx *store.Tx) error {
		v, err := tx.Get(KeyMsg(old.ID))
		if err != nil || !IsBinaryMessage(v) {
			t.Fatalf("rewritten record %q (%v) is not binary", v, err)
		}
		return nil
	})
}

// TestMalformedMessageRecords: a binary record cut short, with trailing bytes, unknown
// flags or a length beyond its end is an error (ErrMalformedRecord), never a message.
func TestMalformedMessageRecords(t *testing.T) {
	good := EncodeMessage(everyField())
	cases := map[string][]byte{
		"tag only":        {MsgTag},
		"trailing byte":   append(bytes.Clone(good), 0),
		"unknown flag":    {MsgTag, 0x80, 0x80, 0x01},
		"length too long": {MsgTag, 0x00, 0x7f, 'a'},
		"huge count":      append([]byte{MsgTag, 0x80, 0x20}, make([]byte, 8+5)...),
	}
	for i := 1; i < len(good); i += 7 {
		cases["cut at "+string(rune('0'+i%10))+"/"+hex.EncodeToString(good[i-1:i])] = good[:i]
	}
	for name, b := range cases {
		var r Message
		if err := DecodeMessage(b, &r); !errors.Is(err, ErrMalformedRecord) {
			t.Errorf("%s: %v, want ErrMalformedRecord", name, err)
		}
		if !reflect.DeepEqual(r, Message{}) {
			t.Errorf("%s: decoded into %+v", name, r)
		}
	}
}

// FuzzMessageRecord: any bytes decode to a record or an error, never a panic; a record
// that decodes encodes to bytes that decode to the same record.
func FuzzMessageRecord(f *testing.F) {
	f.Add(EncodeMessage(everyField()))
	f.Add(EncodeMessage(&Message{ID: "m1"}))
	f.Add([]byte{MsgTag, 0x80, 0x20, 0x02, 'a', 'b'})
	f.Add([]byte(`{"v":1,"id":"m1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Message
		if DecodeMessage(b, &r) != nil || !IsBinaryMessage(b) {
			return
		}
		var again Message
		if err := DecodeMessage(EncodeMessage(&r), &again); err != nil {
			t.Fatalf("re-encoded record: %v", err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip:\n%+v\n%+v", r, again)
		}
	})
}
