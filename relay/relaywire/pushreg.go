package relaywire

import (
	"encoding/binary"
	"unicode/utf8"
)

// Push registration kinds, as encoded inside a sealed registration.
const (
	PushKindWebPush     byte = 1
	PushKindUnifiedPush byte = 2
	PushKindAPNs        byte = 3
	PushKindFCM         byte = 4
)

// Specification constants of the encoded registration.
const (
	pushRegVersion byte = 0x01
	// MaxPushAddress bounds an endpoint URL or device token.
	MaxPushAddress = 2048
	// MaxPushTopic bounds an APNs topic.
	MaxPushTopic = 255
)

// PushRegistration is what a node seals to a bridge: where and how to push.
type PushRegistration struct {
	Kind byte
	// Address is the endpoint URL (Web Push, UnifiedPush) or the device token (APNs, FCM).
	Address string
	// Topic is the APNs topic (bundle id).
	Topic string
	// P256dh (65, uncompressed P-256) and Auth (16) are the RFC 8291 keys (Web Push and
	// UnifiedPush).
	P256dh, Auth []byte
}

// AppendPushRegistration encodes r: version (1) ‖ kind (1) ‖ address length (2) ‖ address ‖
// topic length (1) ‖ topic ‖ p256dh length (1) ‖ p256dh ‖ auth length (1) ‖ auth.
func AppendPushRegistration(b []byte, r PushRegistration) []byte {
	b = append(b, pushRegVersion, r.Kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Address)))
	b = append(b, r.Address...)
	b = append(b, byte(len(r.Topic)))
	b = append(b, r.Topic...)
	b = append(b, byte(len(r.P256dh)))
	b = append(b, r.P256dh...)
	b = append(b, byte(len(r.Auth)))
	return append(b, r.Auth...)
}

// ParsePushRegistration decodes an encoded registration and checks its shape per kind
// (not whether its endpoint may be contacted: the bridge decides that).
func ParsePushRegistration(b []byte) (PushRegistration, error) {
	var r PushRegistration
	if len(b) < 4 || b[0] != pushRegVersion {
		return r, malformed("push registration version")
	}
	r.Kind = b[1]
	n := int(binary.BigEndian.Uint16(b[2:]))
	b = b[4:]
	if n == 0 || n > MaxPushAddress || len(b) < n {
		return r, malformed("push registration address")
	}
	r.Address, b = string(b[:n]), b[n:]
	field := func(max int) ([]byte, bool) {
		if len(b) < 1 || int(b[0]) > max || len(b) < 1+int(b[0]) {
			return nil, false
		}
		v := b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
		return v, true
	}
	topic, ok1 := field(MaxPushTopic)
	p, ok2 := field(65)
	a, ok3 := field(16)
	if !ok1 || !ok2 || !ok3 || len(b) != 0 {
		return r, malformed("push registration fields")
	}
	r.Topic = string(topic)
	if len(p) > 0 {
		r.P256dh = append([]byte(nil), p...)
	}
	if len(a) > 0 {
		r.Auth = append([]byte(nil), a...)
	}
	if !utf8.ValidString(r.Address) || !utf8.ValidString(r.Topic) {
		return r, malformed("push registration text")
	}
	switch r.Kind {
	case PushKindWebPush, PushKindUnifiedPush:
		if len(r.P256dh) != 65 || len(r.Auth) != 16 || r.Topic != "" {
			return r, malformed("web push registration keys")
		}
	case PushKindAPNs:
		if r.Topic == "" || r.P256dh != nil || r.Auth != nil {
			return r, malformed("apns registration")
		}
	case PushKindFCM:
		if r.Topic != "" || r.P256dh != nil || r.Auth != nil {
			return r, malformed("fcm registration")
		}
	default:
		return r, malformed("push registration kind")
	}
	return r, nil
}
