package bridge

// Specification constants of the push payload (doc.go).
const (
	payloadVersion byte = 0x01
	payloadWake    byte = 0x00
	payloadSealed  byte = 0x01
	// RecordSize is the RFC 8291 record size the Web Push senders use: every push body is
	// exactly this long (well under the 4096 bytes push services accept).
	RecordSize = 3072
	// MaxPlaintext is the most an RFC 8291 record of RecordSize holds: less the AEAD tag (16),
	// the header (salt 16, rs 4, idlen 1, P-256 key 65) and the padding delimiter (1).
	MaxPlaintext = RecordSize - 16 - 86 - 1
	// MaxEnvelope is the largest envelope a push carries.
	MaxEnvelope = MaxPlaintext - 2
)

// Payload returns the push plaintext for an envelope: the envelope itself when it fits,
// else a content-free wake-up (also for a nil envelope).
func Payload(envelope []byte) []byte {
	if len(envelope) == 0 || len(envelope) > MaxEnvelope {
		return []byte{payloadVersion, payloadWake}
	}
	out := make([]byte, 0, 2+len(envelope))
	out = append(out, payloadVersion, payloadSealed)
	return append(out, envelope...)
}

// IsEnvelope reports whether a payload carries an envelope.
func IsEnvelope(p []byte) bool { return len(p) > 2 && p[0] == payloadVersion && p[1] == payloadSealed }

// ParsePayload reads a push plaintext: the envelope it carries (nil for a wake-up).
func ParsePayload(p []byte) (envelope []byte, ok bool) {
	switch {
	case len(p) == 2 && p[0] == payloadVersion && p[1] == payloadWake:
		return nil, true
	case IsEnvelope(p) && len(p) <= MaxPlaintext:
		return p[2:], true
	}
	return nil, false
}
