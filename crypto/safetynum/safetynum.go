package safetynum

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Specification constants.
const (
	// Version is hashed into every fingerprint and leads the scannable form.
	Version = 1
	// Iterations is the number of SHA-512 iterations, as in Signal's numeric fingerprints.
	Iterations = 5200

	// MaxIDSize bounds the stable identifier.
	MaxIDSize = 1024

	chunkSize     = 5 // bytes per 5-digit group
	groups        = 6 // groups per party
	groupDigits   = 5
	partyDigits   = groups * groupDigits
	scanPartSize  = 32
	scannableSize = 1 + 2*scanPartSize
	digitGroupMod = 100000
)

// Errors a caller can branch on.
var (
	// ErrInvalidInput: a key that is not 32 bytes, or an empty or oversized identifier.
	ErrInvalidInput = errors.New("safetynum: invalid key or identifier")
	// ErrMalformed: scanned bytes that are not a scannable safety number.
	ErrMalformed = errors.New("safetynum: malformed scanned code")
	// ErrVersion: a scanned code of another version; neither side can compare.
	ErrVersion = errors.New("safetynum: scanned code of another version")
)

// party is one side's iterated hash and its digits.
type party struct {
	hash   [sha512.Size]byte
	digits string
}

// derive validates one party's inputs and runs the iterated hash.
func derive(id []byte, key ed25519.PublicKey) (*party, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key of %d bytes", ErrInvalidInput, len(key))
	}
	if len(id) == 0 || len(id) > MaxIDSize {
		return nil, fmt.Errorf("%w: identifier of %d bytes", ErrInvalidInput, len(id))
	}
	return iterate(Version, key, id), nil
}

// iterate is the derivation for any version and key encoding (Signal's own vectors use
// version 0 and 33-byte keys, which lets a test check the algorithm against them):
//
//	h_0 = version ‖ key ‖ id;  h_i = SHA-512(h_{i-1} ‖ key), i = 1 … Iterations
func iterate(version uint16, key, id []byte) *party {
	// buf holds h ‖ key, so each iteration writes its digest in place.
	buf := make([]byte, 0, max(2+len(key)+len(id), sha512.Size)+len(key))
	buf = binary.BigEndian.AppendUint16(buf, version)
	buf = append(buf, key...)
	buf = append(buf, id...)
	buf = append(buf, key...)
	h := sha512.Sum512(buf)
	buf = append(buf[:0], h[:]...)
	buf = append(buf, key...)
	for range Iterations - 1 {
		h = sha512.Sum512(buf)
		copy(buf, h[:])
	}
	// Each 5-byte chunk, as a big-endian 40-bit integer mod 100000, gives 5 digits.
	var sb strings.Builder
	for j := range groups {
		var c [8]byte
		copy(c[3:], h[j*chunkSize:(j+1)*chunkSize])
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(c[:])%digitGroupMod)
	}
	return &party{hash: h, digits: sb.String()}
}

// Fingerprint returns one party's 30-digit fingerprint in 6 groups of 5, separated by
// spaces: what a user sees as "my safety fingerprint".
func Fingerprint(id []byte, key ed25519.PublicKey) (string, error) {
	p, err := derive(id, key)
	if err != nil {
		return "", err
	}
	return grouped(p.digits), nil
}

// A Number is the safety number of a pair of parties, seen from the local one.
type Number struct {
	local, remote *party
}

// New computes the safety number between the local party and a remote one. Each
// identifier must be the same one the other side uses for that party.
func New(localID []byte, localKey ed25519.PublicKey, remoteID []byte, remoteKey ed25519.PublicKey) (*Number, error) {
	l, err := derive(localID, localKey)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	r, err := derive(remoteID, remoteKey)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	return &Number{local: l, remote: r}, nil
}

// Digits returns the 60 digits, the smaller party's first: both sides get the same.
func (n *Number) Digits() string {
	if n.local.digits <= n.remote.digits {
		return n.local.digits + n.remote.digits
	}
	return n.remote.digits + n.local.digits
}

// String returns the 60 digits in 12 groups of 5 separated by spaces.
func (n *Number) String() string { return grouped(n.Digits()) }

// Equal reports whether two numbers display the same digits (the same pair of keys,
// from either side).
func (n *Number) Equal(o *Number) bool {
	return subtle.ConstantTimeCompare([]byte(n.Digits()), []byte(o.Digits())) == 1
}

// Scannable returns the bytes to show as a QR code for the other side to scan.
func (n *Number) Scannable() []byte {
	b := make([]byte, 0, scannableSize)
	b = append(b, Version)
	b = append(b, n.local.hash[:scanPartSize]...)
	return append(b, n.remote.hash[:scanPartSize]...)
}

// MatchScanned reports whether a code scanned from the other party's screen shows the
// same pair of keys. It returns ErrVersion for a code of another version and
// ErrMalformed for bytes that are no scannable code.
func (n *Number) MatchScanned(scanned []byte) (bool, error) {
	if len(scanned) > 0 && scanned[0] != Version {
		return false, fmt.Errorf("%w: %d", ErrVersion, scanned[0])
	}
	if len(scanned) != scannableSize {
		return false, fmt.Errorf("%w: %d bytes", ErrMalformed, len(scanned))
	}
	theirLocal := scanned[1 : 1+scanPartSize]
	theirRemote := scanned[1+scanPartSize:]
	ok := subtle.ConstantTimeCompare(theirLocal, n.remote.hash[:scanPartSize]) &
		subtle.ConstantTimeCompare(theirRemote, n.local.hash[:scanPartSize])
	return ok == 1, nil
}

// grouped inserts a space after every 5 digits.
func grouped(digits string) string {
	var sb strings.Builder
	for i := 0; i < len(digits); i += groupDigits {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(digits[i : i+groupDigits])
	}
	return sb.String()
}
