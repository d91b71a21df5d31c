package history

import (
	"fmt"
	"strconv"
)

// ExpiryPrefix is the prefix of the expiry index: KeyExpiry(at, id) → empty for every
// message with a running disappearing-message timer, in expiry order.
var ExpiryPrefix = []byte("dx/")

// KeyExpiry is message id's entry in the expiry index, at its expiry at (Unix ms).
func KeyExpiry(at int64, id string) []byte {
	return fmt.Appendf(nil, "dx/%016d/%s", max(at, 0), id)
}

// ParseExpiry reads an expiry index key back: the expiry and the message id.
func ParseExpiry(k []byte) (at int64, id string, err error) {
	s := string(k)
	if len(s) < len("dx/")+17 || s[:3] != "dx/" || s[19] != '/' {
		return 0, "", fmt.Errorf("history: expiry key %q", k)
	}
	at, err = strconv.ParseInt(s[3:19], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("history: expiry key %q: %w", k, err)
	}
	return at, s[20:], nil
}
