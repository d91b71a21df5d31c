package filemeta

import "strings"

// ChooseMIME keeps the uploader's type, except that what is an image is labelled with its
// real type (kind, from Sniff) and a claimed image that is not one becomes application/octet-stream: a UI
// renders inline only what the bytes are.
func ChooseMIME(claimed, kind string) string {
	claimed = strings.ToLower(strings.TrimSpace(claimed))
	if i := strings.IndexByte(claimed, ';'); i >= 0 && !strings.HasPrefix(claimed, "audio/") {
		claimed = strings.TrimSpace(claimed[:i])
	}
	switch {
	case kind != "":
		return kind
	case strings.HasPrefix(claimed, "image/"), claimed == "", len(claimed) > 100:
		return "application/octet-stream"
	case strings.ContainsAny(claimed, " \r\n\"\\"):
		return "application/octet-stream"
	}
	return claimed
}

// CleanName keeps a file name displayable: no path, no control characters, no Unicode
// bidirectional controls (an override would show "gpj.exe" as if it ended in ".jpg"),
// ≤ 255 bytes.
func CleanName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || bidiControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.ToValidUTF8(s, "")
	for len(s) > 255 {
		_, n := lastRune(s)
		s = s[:len(s)-n]
	}
	if s == "" || s == "." || s == ".." {
		return "file"
	}
	return s
}

func lastRune(s string) (rune, int) {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i]&0xC0 != 0x80 {
			return rune(b[i]), len(b) - i
		}
	}
	return 0, 1
}

// bidiControl reports the Unicode bidirectional formatting characters: the marks (LRM,
// RLM, ALM), the embeddings and overrides (U+202A–U+202E) and the isolates
// (U+2066–U+2069).
func bidiControl(r rune) bool {
	return r == 0x200e || r == 0x200f || r == 0x061c || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
