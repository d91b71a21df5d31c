package history

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchRecord is a message record as the delivery benchmark writes it: a 100-byte body,
// delivered, no attachments or reactions.
func benchRecord() *Message {
	return &Message{V: Version, ID: "mabcdefghijklmnopqrstuvwxyz23", ConversationID: "dabcdefghijklmnopqrstuvwxyz23",
		ClientMsgID: "t1234", SenderID: "wohr3nh4xqvdamjnrsgzaduhtquw65pg7hamawmx", Body: strings.Repeat("x", 100),
		SentAt: 1764780000000, ReceivedAt: 1764780000000, Status: "delivered", Delivered: 1, Total: 1,
		Order:     "0000019ae1c2f3a4-0000-wohr3nh4xqvdamjnrsgzaduhtquw65pg7hamawmx-mabcdefghijklmnopqrstuvwxyz23",
		ContactID: "cabcdefghijklmnopqrstuvwxyz23"}
}

// BenchmarkMessageRecord: encoding and decoding one message record in the binary layout,
// beside encoding/json on the same record in the same run (the format it replaced). It
// reports bytes, the record's size.
func BenchmarkMessageRecord(b *testing.B) {
	r := benchRecord()
	js, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	bin := EncodeMessage(r)
	b.Run("encode/binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeMessage(r)
		}
		b.ReportMetric(float64(len(bin)), "bytes")
	})
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(js)), "bytes")
	})
	b.Run("decode/binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Message
			if err := DecodeMessage(bin, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Message
			if err := DecodeMessage(js, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
