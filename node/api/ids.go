package api

import (
	"crypto/rand"
	"encoding/base32"
)

// NewID returns prefix + 26 lower-case base32 characters of randomness (128 bits): the
// form of every id the node hands out (messages, contacts, conversations, media).
func NewID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
}
