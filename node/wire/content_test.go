package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const testTS = "018bcfe5680000000001" // hlc (1700000000000, 1)

// kinds lists every content kind with a minimal valid content of it.
var kinds = map[string]func() *Content{
	KindText: func() *Content {
		return &Content{Kind: KindText, ID: "mabc", Seq: 1, TS: testTS, Body: "hello"}
	},
	KindReceipt: func() *Content {
		return &Content{Kind: KindReceipt, ID: "xabc", Seq: 2, TS: testTS, Status: ReceiptDelivered, IDs: []string{"m1", "m2"}}
	},
	KindEdit: func() *Content {
		return &Content{Kind: KindEdit, ID: "xabc", Seq: 3, TS: testTS, Target: "m1", Body: "hello again"}
	},
	KindDelete: func() *Content {
		return &Content{Kind: KindDelete, ID: "xabc", Seq: 4, TS: testTS, Target: "m1"}
	},
	KindReaction: func() *Content {
		return &Content{Kind: KindReaction, ID: "xabc", Seq: 5, TS: testTS, Target: "m1", Emoji: "👍"}
	},
	KindResend: func() *Content {
		return &Content{Kind: KindResend, ID: "xabc", Seq: 6, TS: testTS, From: 2, To: 9}
	},
}

func testCard() *Card {
	return &Card{
		Name:   "Alice",
		PeerID: "12D3KooWShCfmTAw2f3vXehwWv2EwvMqQmgaKw7j2mqzFeH5YKHm",
		Addrs:  []string{"/ip4/203.0.113.7/tcp/4001"},
		Relays: []string{},
	}
}

// rawJSON encodes c with no check, to hand ParseContent what a careless or hostile sender
// would send.
func rawJSON(t *testing.T, c *Content) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestContentRoundTrip: for every kind, with and without a card, ParseContent gives back
// exactly what Marshal encoded.
func TestContentRoundTrip(t *testing.T) {
	for kind, mk := range kinds {
		for _, withCard := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/card=%v", kind, withCard), func(t *testing.T) {
				in := mk()
				if withCard {
					in.Card = testCard()
				}
				b, err := in.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				out, err := ParseContent(b)
				if err != nil {
					t.Fatalf("ParseContent(%s): %v", b, err)
				}
				if !reflect.DeepEqual(out, in) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
				}
			})
		}
	}
}

// TestContentRoundTripVariants: optional fields and the awkward corners of JSON strings
// (escapes, non-ASCII, HTML characters) survive the round trip.
func TestContentRoundTripVariants(t *testing.T) {
	for name, c := range map[string]*Content{
		"reply":          {Kind: KindText, ID: "m2", Seq: 7, TS: testTS, Body: "yes", ReplyTo: "m1"},
		"empty body":     {Kind: KindText, ID: "m2", Seq: 7, TS: testTS},
		"escapes":        {Kind: KindText, ID: "m2", Seq: 7, TS: testTS, Body: "\"quoted\"\n\t\\ <b>&amp;</b> \u2028 \x00 é 😀"},
		"read receipt":   {Kind: KindReceipt, ID: "x1", Seq: 1, TS: testTS, Status: ReceiptRead, IDs: []string{"m1"}},
		"reaction off":   {Kind: KindReaction, ID: "x1", Seq: 1, TS: testTS, Target: "m1", Emoji: "❤️", Remove: true},
		"resend one":     {Kind: KindResend, ID: "x1", Seq: 1, TS: testTS, From: 5, To: 5},
		"max seq":        {Kind: KindText, ID: "m2", Seq: 1<<64 - 1, TS: "ffffffffffffffffffff"},
		"zero timestamp": {Kind: KindText, ID: "m2", Seq: 1, TS: "00000000000000000000"},
		"card, no addrs": {Kind: KindText, ID: "m2", Seq: 1, TS: testTS, Card: &Card{PeerID: "p", Addrs: []string{}, Relays: []string{}}},
		"card, relays":   {Kind: KindText, ID: "m2", Seq: 1, TS: testTS, Card: &Card{Name: "Zoë", PeerID: "p", Addrs: []string{"/a"}, Relays: []string{"/r1", "/r2"}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			out, err := ParseContent(b)
			if err != nil {
				t.Fatalf("ParseContent(%s): %v", b, err)
			}
			if !reflect.DeepEqual(out, c) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", out, c)
			}
		})
	}
}

// TestContentRefused: a content that breaks a rule is refused with ErrMalformed both by
// Marshal (a node never sends it) and by ParseContent (a node never accepts it).
func TestContentRefused(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("m%d", i)
		}
		return out
	}
	addrs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		kind string
		edit func(c *Content)
	}{
		// Every kind: id, seq, ts, body, reply_to.
		{"empty id", KindText, func(c *Content) { c.ID = "" }},
		{"id over MaxIDLen", KindText, func(c *Content) { c.ID = long(MaxIDLen + 1) }},
		{"id with a dot", KindText, func(c *Content) { c.ID = "m.1" }},
		{"id with a slash", KindReceipt, func(c *Content) { c.ID = "m/1" }},
		{"id with a space", KindEdit, func(c *Content) { c.ID = "m 1" }},
		{"id with non-ASCII", KindDelete, func(c *Content) { c.ID = "mé" }},
		{"id with NUL", KindReaction, func(c *Content) { c.ID = "m\x00" }},
		{"seq 0", KindText, func(c *Content) { c.Seq = 0 }},
		{"seq 0 resend", KindResend, func(c *Content) { c.Seq = 0 }},
		{"no timestamp", KindText, func(c *Content) { c.TS = "" }},
		{"short timestamp", KindDelete, func(c *Content) { c.TS = testTS[1:] }},
		{"long timestamp", KindReceipt, func(c *Content) { c.TS = testTS + "0" }},
		{"upper-case timestamp", KindEdit, func(c *Content) { c.TS = "018BCFE5680000000001" }},
		{"decimal timestamp", KindText, func(c *Content) { c.TS = "1700000000000" }},
		{"body over MaxBody", KindText, func(c *Content) { c.Body = long(MaxBody + 1) }},
		{"edit body over MaxBody", KindEdit, func(c *Content) { c.Body = long(MaxBody + 1) }},
		{"body not UTF-8", KindText, func(c *Content) { c.Body = "caf\xe9" }},
		{"edit body not UTF-8", KindEdit, func(c *Content) { c.Body = "\xff" }},
		{"bad reply_to", KindText, func(c *Content) { c.ReplyTo = "m 1" }},
		{"long reply_to", KindText, func(c *Content) { c.ReplyTo = long(MaxIDLen + 1) }},
		// Unknown kinds.
		{"no kind", KindText, func(c *Content) { c.Kind = "" }},
		{"upper-case kind", KindText, func(c *Content) { c.Kind = "TEXT" }},
		{"typing kind", KindText, func(c *Content) { c.Kind = "typing" }},
		// edit, delete: target.
		{"edit without target", KindEdit, func(c *Content) { c.Target = "" }},
		{"edit bad target", KindEdit, func(c *Content) { c.Target = "m!" }},
		{"delete without target", KindDelete, func(c *Content) { c.Target = "" }},
		{"delete long target", KindDelete, func(c *Content) { c.Target = long(MaxIDLen + 1) }},
		// reaction: target, emoji.
		{"reaction without target", KindReaction, func(c *Content) { c.Target = "" }},
		{"reaction bad target", KindReaction, func(c *Content) { c.Target = "#" }},
		{"reaction without emoji", KindReaction, func(c *Content) { c.Emoji = "" }},
		{"removal without emoji", KindReaction, func(c *Content) { c.Emoji, c.Remove = "", true }},
		{"emoji over MaxEmoji", KindReaction, func(c *Content) { c.Emoji = strings.Repeat("👍", MaxEmoji/4+1) }},
		{"emoji not UTF-8", KindReaction, func(c *Content) { c.Emoji = "\xf0\x9f" }},
		// receipt: status, ids.
		{"receipt without status", KindReceipt, func(c *Content) { c.Status = "" }},
		{"receipt unknown status", KindReceipt, func(c *Content) { c.Status = "seen" }},
		{"receipt upper-case status", KindReceipt, func(c *Content) { c.Status = "READ" }},
		{"receipt without ids", KindReceipt, func(c *Content) { c.IDs = nil }},
		{"receipt empty ids", KindReceipt, func(c *Content) { c.IDs = []string{} }},
		{"receipt over MaxReceiptID ids", KindReceipt, func(c *Content) { c.IDs = ids(MaxReceiptID + 1) }},
		{"receipt empty id", KindReceipt, func(c *Content) { c.IDs = []string{"m1", ""} }},
		{"receipt bad id", KindReceipt, func(c *Content) { c.IDs = []string{"m1", "m 2"} }},
		{"receipt long id", KindReceipt, func(c *Content) { c.IDs = []string{long(MaxIDLen + 1)} }},
		// resend: from, to.
		{"resend from 0", KindResend, func(c *Content) { c.From = 0 }},
		{"resend empty", KindResend, func(c *Content) { c.From, c.To = 0, 0 }},
		{"resend to before from", KindResend, func(c *Content) { c.From, c.To = 5, 4 }},
		{"resend without to", KindResend, func(c *Content) { c.To = 0 }},
		{"resend over MaxReceiptID", KindResend, func(c *Content) { c.From, c.To = 1, MaxReceiptID+2 }},
		{"resend of everything", KindResend, func(c *Content) { c.From, c.To = 1, 1<<64-1 }},
		// card.
		{"card without peer id", KindText, func(c *Content) { c.Card = testCard(); c.Card.PeerID = "" }},
		{"card long peer id", KindText, func(c *Content) { c.Card = testCard(); c.Card.PeerID = long(129) }},
		{"card name over MaxName", KindText, func(c *Content) { c.Card = testCard(); c.Card.Name = long(MaxName + 1) }},
		{"card name not UTF-8", KindText, func(c *Content) { c.Card = testCard(); c.Card.Name = "\xc3" }},
		{"card over MaxAddrs addrs", KindText, func(c *Content) { c.Card = testCard(); c.Card.Addrs = addrs(MaxAddrs + 1) }},
		{"card over MaxAddrs relays", KindText, func(c *Content) { c.Card = testCard(); c.Card.Relays = addrs(MaxAddrs + 1) }},
		{"card empty addr", KindText, func(c *Content) { c.Card = testCard(); c.Card.Addrs = []string{""} }},
		{"card empty relay", KindReceipt, func(c *Content) { c.Card = testCard(); c.Card.Relays = []string{"/r", ""} }},
		{"card addr over MaxAddrLen", KindText, func(c *Content) { c.Card = testCard(); c.Card.Addrs = []string{"/" + long(MaxAddrLen)} }},
		{"card relay over MaxAddrLen", KindText, func(c *Content) { c.Card = testCard(); c.Card.Relays = []string{"/" + long(MaxAddrLen)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kinds[tc.kind]()
			tc.edit(c)
			if b, err := c.Marshal(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Marshal = %.80s, %v; want ErrMalformed", b, err)
			}
			if strings.Contains(tc.name, "not UTF-8") {
				// encoding/json would send U+FFFD; raw invalid UTF-8 is refused before
				// any JSON is read (TestParseContentRefusesBytes).
				return
			}
			raw := rawJSON(t, c)
			if len(raw) > MaxContent {
				t.Fatalf("test content of %d bytes is over MaxContent", len(raw))
			}
			if out, err := ParseContent(raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseContent(%.200s) = %+v, %v; want ErrMalformed", raw, out, err)
			}
		})
	}
}

// TestContentAtLimits: every limit is inclusive — a content exactly at it is accepted.
func TestContentAtLimits(t *testing.T) {
	ids := make([]string, MaxReceiptID)
	for i := range ids {
		ids[i] = fmt.Sprintf("%064d", i)
	}
	addrs := make([]string, MaxAddrs)
	for i := range addrs {
		addrs[i] = "/" + strings.Repeat("a", MaxAddrLen-1)
	}
	for name, c := range map[string]*Content{
		"body of MaxBody":              {Kind: KindText, ID: strings.Repeat("Z", MaxIDLen), Seq: 1, TS: testTS, Body: strings.Repeat("é", MaxBody/2), ReplyTo: strings.Repeat("-", MaxIDLen)},
		"MaxReceiptID ids of MaxIDLen": {Kind: KindReceipt, ID: "x", Seq: 1, TS: testTS, Status: ReceiptRead, IDs: ids},
		"emoji of MaxEmoji":            {Kind: KindReaction, ID: "x", Seq: 1, TS: testTS, Target: "_", Emoji: strings.Repeat("👍", MaxEmoji/4)},
		"resend of MaxReceiptID+1":     {Kind: KindResend, ID: "x", Seq: 1, TS: testTS, From: 1, To: 1 + MaxReceiptID},
		"resend at the top":            {Kind: KindResend, ID: "x", Seq: 1, TS: testTS, From: 1<<64 - 1, To: 1<<64 - 1},
		"largest card": {Kind: KindDelete, ID: "x", Seq: 1, TS: testTS, Target: "m", Card: &Card{
			Name: strings.Repeat("ß", MaxName/2), PeerID: strings.Repeat("p", 128), Addrs: addrs, Relays: addrs,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			out, err := ParseContent(b)
			if err != nil {
				t.Fatalf("ParseContent: %v", err)
			}
			if !reflect.DeepEqual(out, c) {
				t.Fatal("round trip changed the content")
			}
		})
	}
}

// TestParseContentRefusesBytes: byte-level refusals that Marshal cannot produce — not
// UTF-8, unknown fields (top level and in the card), wrong JSON types, trailing data,
// oversize — are ErrMalformed.
func TestParseContentRefusesBytes(t *testing.T) {
	const ok = `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001"}`
	if _, err := ParseContent([]byte(ok)); err != nil {
		t.Fatalf("base content refused: %v", err)
	}
	field := func(f string) string { return ok[:len(ok)-1] + "," + f + "}" }
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"white space", " \n"},
		{"null", "null"},
		{"array", "[]"},
		{"string", `"text"`},
		{"truncated", ok[:len(ok)-1]},
		{"unknown field", field(`"x":1`)},
		{"unknown field, null", field(`"typing":null`)},
		{"unknown card field", field(`"card":{"name":"a","peer_id":"p","addrs":[],"relays":[],"avatar":"x"}`)},
		{"seq as string", `{"k":"text","id":"m1","seq":"1","ts":"018bcfe5680000000001"}`},
		{"negative seq", `{"k":"text","id":"m1","seq":-1,"ts":"018bcfe5680000000001"}`},
		{"fractional seq", `{"k":"text","id":"m1","seq":1.5,"ts":"018bcfe5680000000001"}`},
		{"seq over 2^64", `{"k":"text","id":"m1","seq":18446744073709551616,"ts":"018bcfe5680000000001"}`},
		{"ids as string", `{"k":"receipt","id":"x","seq":1,"ts":"018bcfe5680000000001","status":"read","ids":"m1"}`},
		{"remove as string", field(`"remove":"true"`)},
		{"card as array", field(`"card":[]`)},
		{"invalid UTF-8 in body", `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","body":"caf` + "\xe9" + `"}`},
		{"invalid UTF-8 in white space", ok + " \xff"},
		{"overlong UTF-8", `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","body":"` + "\xc0\xaf" + `"}`},
		{"UTF-16 surrogate in UTF-8", `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","body":"` + "\xed\xa0\x80" + `"}`},
		{"trailing object", ok + ok},
		{"trailing garbage", ok + " x"},
		{"trailing number", ok + "1"},
		{"trailing comma", ok + ","},
		{"over MaxContent", ok + strings.Repeat(" ", MaxContent)},
		{"body over MaxBody (escaped)", `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","body":"` + strings.Repeat(`\u0041`, MaxBody+1) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ParseContent([]byte(tc.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseContent(%.120q) = %+v, %v; want ErrMalformed", tc.in, out, err)
			}
			if out != nil {
				t.Fatal("refused content returned")
			}
		})
	}
}

// TestParseContentTrailingBracket: a content followed by anything is refused — including
// a closing bracket, which json.Decoder.More does not report as "more".
func TestParseContentTrailingBracket(t *testing.T) {
	const ok = `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001"}`
	for _, in := range []string{ok + "}", ok + "]", ok + " ] anything at all {"} {
		if c, err := ParseContent([]byte(in)); err == nil {
			t.Errorf("ParseContent(%q) = %+v, want an error", in, c)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseContent(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

// TestParseContentExactKeys: the JSON is parsed strictly, so a key is only ever matched by
// its exact spelling, and appears once.
func TestParseContentExactKeys(t *testing.T) {
	for _, in := range []string{
		`{"K":"text","ID":"m1","Seq":1,"TS":"018bcfe5680000000001"}`,
		`{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","BODY":"hi"}`,
		`{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001","body":"a","body":"b"}`,
		`{"k":"delete","id":"m1","seq":1,"ts":"018bcfe5680000000001","k":"text"}`,
	} {
		if c, err := ParseContent([]byte(in)); err == nil {
			t.Errorf("ParseContent(%q) = %+v, want an error", in, c)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseContent(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

// TestParseContentWhiteSpace: white space around the object is JSON and accepted (it is
// not "trailing data").
func TestParseContentWhiteSpace(t *testing.T) {
	const ok = `{"k":"text","id":"m1","seq":1,"ts":"018bcfe5680000000001"}`
	for _, in := range []string{" " + ok, ok + "\n", "\t\r\n" + ok + " \n"} {
		if _, err := ParseContent([]byte(in)); err != nil {
			t.Fatalf("ParseContent(%q): %v", in, err)
		}
	}
}

// TestMarshalFitsMaxContent: whatever Marshal accepts, ParseContent accepts: a body within
// MaxBody must not become a content over MaxContent once JSON escapes it. encoding/json
// writes '<', '>', '&', U+2028, U+2029 and control characters as six-byte \uXXXX escapes,
// so a body of MaxBody such characters becomes 6 × 64 KiB = 384 KiB of JSON.
func TestMarshalFitsMaxContent(t *testing.T) {
	for name, body := range map[string]string{
		"quotes":    strings.Repeat(`"`, MaxBody),
		"newlines":  strings.Repeat("\n", MaxBody),
		"html":      strings.Repeat("<", MaxBody),
		"controls":  strings.Repeat("\x01", MaxBody),
		"separator": strings.Repeat("\u2028", MaxBody/3),
	} {
		c := &Content{Kind: KindText, ID: "m1", Seq: 1, TS: testTS, Body: body, Card: testCard()}
		b, err := c.Marshal()
		if err != nil {
			continue // refusing to encode is as good as never sending it
		}
		if len(b) > MaxContent {
			t.Fatalf("%s: Marshal gave %d bytes, over MaxContent (%d)", name, len(b), MaxContent)
		}
		if _, err := ParseContent(b); err != nil {
			t.Fatalf("%s: Marshal gave %d bytes that ParseContent refuses: %v", name, len(b), err)
		}
	}
}

// TestValidID: ids are 1..MaxIDLen of [0-9A-Za-z_-].
func TestValidID(t *testing.T) {
	for _, s := range []string{"a", "Z", "0", "_", "-", "mabcdefghijklmnopqrstuvwxyz234567", strings.Repeat("x", MaxIDLen), "m-1_B"} {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range []string{"", strings.Repeat("x", MaxIDLen+1), "a b", "a.b", "a/b", "a+b", "é", "a\x00", "a\n", "=", "a~"} {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

// TestKindsCovered keeps the kinds table above in step with the package's kinds.
func TestKindsCovered(t *testing.T) {
	for _, k := range []string{KindText, KindReceipt, KindEdit, KindDelete, KindReaction, KindResend} {
		if kinds[k] == nil {
			t.Errorf("kind %q has no test content", k)
		}
	}
	if len(kinds) != 6 {
		t.Errorf("%d test kinds, want 6", len(kinds))
	}
}
