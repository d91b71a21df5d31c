package hlc

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Specification constants.
const (
	// MaxWall is the greatest Wall a timestamp may hold: 12 hex digits of
	// Unix milliseconds (the year 10889).
	MaxWall = 1<<48 - 1

	// MaxDrift: a remote timestamp whose Wall is more than this ahead of
	// the local wall clock is not adopted (Observe returns ErrDrift and
	// leaves the clock unchanged).
	MaxDrift = time.Hour

	wallDigits    = 12
	logicalDigits = 8
	// textLen is the length of a Timestamp's text form.
	textLen = wallDigits + logicalDigits
	// keySep separates the timestamp from the tiebreak in an order key.
	keySep = '-'
)

var (
	// ErrDrift reports a remote timestamp too far ahead of the local wall
	// clock to adopt.
	ErrDrift = errors.New("hlc: remote timestamp too far ahead of the local clock")
	// ErrMalformed reports a string that is not a timestamp or order key, or a
	// timestamp outside [0, MaxWall].
	ErrMalformed = errors.New("hlc: malformed timestamp")
)

// Timestamp is wall-clock Unix milliseconds plus a logical counter. The zero
// Timestamp is earlier than every timestamp a Clock returns. Timestamps are
// comparable with ==; order them with Compare.
type Timestamp struct {
	Wall    int64
	Logical uint32
}

// Compare returns -1, 0 or +1 as t is before, equal to or after u: by Wall,
// then by Logical.
func (t Timestamp) Compare(u Timestamp) int {
	if c := cmp.Compare(t.Wall, u.Wall); c != 0 {
		return c
	}
	return cmp.Compare(t.Logical, u.Logical)
}

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Valid reports whether t.Wall is in [0, MaxWall], the range of the text form.
func (t Timestamp) Valid() bool { return 0 <= t.Wall && t.Wall <= MaxWall }

// Time returns the wall-clock part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Wall) }

const hexDigits = "0123456789abcdef"

// String is fixed-width lowercase hex, 12 digits of Wall then 8 of Logical, so
// string order == time order. For a timestamp that is not Valid it returns a
// description that Parse refuses.
func (t Timestamp) String() string {
	if !t.Valid() {
		return fmt.Sprintf("hlc.Timestamp{Wall:%d,Logical:%d}", t.Wall, t.Logical)
	}
	var b [textLen]byte
	t.put(b[:])
	return string(b[:])
}

// put writes the text form of a valid t into b[:textLen].
func (t Timestamp) put(b []byte) {
	w := uint64(t.Wall)
	for i := wallDigits - 1; i >= 0; i-- {
		b[i] = hexDigits[w&0xf]
		w >>= 4
	}
	l := t.Logical
	for i := textLen - 1; i >= wallDigits; i-- {
		b[i] = hexDigits[l&0xf]
		l >>= 4
	}
}

// Parse parses the 20-character text form written by String.
func Parse(s string) (Timestamp, error) {
	if len(s) != textLen {
		return Timestamp{}, fmt.Errorf("%w: length %d, want %d", ErrMalformed, len(s), textLen)
	}
	var w, l uint64
	for i := range textLen {
		d, ok := hexValue(s[i])
		if !ok {
			return Timestamp{}, fmt.Errorf("%w: byte %d is not a lowercase hex digit", ErrMalformed, i)
		}
		if i < wallDigits {
			w = w<<4 | d
		} else {
			l = l<<4 | d
		}
	}
	// 12 hex digits cannot exceed MaxWall, and 8 cannot exceed 32 bits.
	return Timestamp{Wall: int64(w), Logical: uint32(l)}, nil
}

func hexValue(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	}
	return 0, false
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (t Timestamp) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: wall %d out of range", ErrMalformed, t.Wall)
	}
	b := make([]byte, textLen)
	t.put(b)
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (t *Timestamp) UnmarshalText(b []byte) error {
	u, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = u
	return nil
}

// OrderKey is the conversation sort key: ts.String() + "-" + tiebreak, where
// tiebreak is a string that is unique per message and the same on every node
// (the node passes sender user id + "-" + message uuid). Lexicographic order of
// keys == (timestamp, tiebreak) order, for valid timestamps.
func OrderKey(ts Timestamp, tiebreak string) string {
	return ts.String() + string(keySep) + tiebreak
}

// ParseOrderKey splits an order key into its timestamp and tiebreak. The
// tiebreak is returned as it is (it may itself contain "-").
func ParseOrderKey(key string) (Timestamp, string, error) {
	if len(key) < textLen+1 || key[textLen] != keySep {
		return Timestamp{}, "", fmt.Errorf("%w: not an order key", ErrMalformed)
	}
	ts, err := Parse(key[:textLen])
	if err != nil {
		return Timestamp{}, "", err
	}
	return ts, key[textLen+1:], nil
}
