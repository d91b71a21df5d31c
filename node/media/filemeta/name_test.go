package filemeta

import "testing"

// A file name is shown to the person who receives it: it keeps no path, no control
// characters, and no Unicode bidirectional controls, which would let "gpj.exe" preceded by
// a right-to-left override show as if it ended in ".jpg" (a spoofed file type).
func TestCleanNameRemovesWhatSpoofs(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":                   "photo.jpg",
		"../../etc/passwd":            "passwd",
		`C:\Users\a\doc.pdf`:          "doc.pdf",
		"a\nb\x00c.txt":               "abc.txt",
		"invoice\u202egpj.exe":        "invoicegpj.exe",
		"x\u2066y\u2067z\u2068\u2069": "xyz",
		"a\u200eb\u200fc\u061cd":      "abcd",
		"\u202a\u202b\u202c\u202d":    "file",
		"résumé – 2026.pdf":           "résumé – 2026.pdf",
		"":                            "file",
		"..":                          "file",
	} {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}
