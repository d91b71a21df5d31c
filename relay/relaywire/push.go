package relaywire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// PushProtocol is the push-bridge protocol (doc.go, "Push protocol").
const PushProtocol = "/petrel/push/1.0.0"

// Specification constants of the push protocol.
const (
	// BridgeKeyVersion is the first byte of a BridgeKeyIs body after its type.
	BridgeKeyVersion byte = 0x01
	// PushRegistrationIDSize is the size of a registration id.
	PushRegistrationIDSize = 16
	// MaxSealedRegistration bounds a sealed registration (a crypto/sealed envelope of an
	// encoded PushRegistration, which pads to at most 4096 bytes of plaintext).
	MaxSealedRegistration = 8 << 10
	// MaxPushStates bounds the registrations of one PushStates answer.
	MaxPushStates = 64
	// MaxPushReason bounds a dead registration's reason.
	MaxPushReason = 255
)

// Push frame types.
const (
	TypeBridgeKey      byte = 0x20 // client → relay
	TypeBridgeKeyIs    byte = 0x21 // relay → client
	TypePushRegister   byte = 0x22 // client → relay
	TypePushUnregister byte = 0x23 // client → relay
	TypePushList       byte = 0x24 // client → relay
	TypePushStates     byte = 0x25 // relay → client
	TypePushDND        byte = 0x26 // client → relay
)

// AppendBridgeKey appends a BridgeKey body (the type alone).
func AppendBridgeKey(b []byte) []byte { return append(b, TypeBridgeKey) }

// ParseBridgeKey checks a BridgeKey body.
func ParseBridgeKey(body []byte) error {
	if len(body) != 1 || body[0] != TypeBridgeKey {
		return malformed("not a bridge key request")
	}
	return nil
}

// AppendBridgeKeyIs appends the bridge's public key: type ‖ version (1) ‖ public identity (129).
func AppendBridgeKeyIs(b []byte, p *identity.PublicIdentity) []byte {
	b = append(b, TypeBridgeKeyIs, BridgeKeyVersion)
	return append(b, p.Bytes()...)
}

// ParseBridgeKeyIs parses a BridgeKeyIs body and verifies the key's self-signature.
func ParseBridgeKeyIs(body []byte) (*identity.PublicIdentity, error) {
	if len(body) != 2+identity.PublicSize || body[0] != TypeBridgeKeyIs || body[1] != BridgeKeyVersion {
		return nil, malformed("not a bridge key")
	}
	p, err := identity.ParsePublic(body[2:])
	if err != nil {
		return nil, fmt.Errorf("%w: bridge key: %w", ErrMalformed, err)
	}
	return p, nil
}

// PushRegister hands the bridge one sealed registration.
type PushRegister struct {
	ID     [PushRegistrationIDSize]byte
	Sealed []byte // crypto/sealed envelope of an encoded PushRegistration, to the bridge key
}

// AppendPushRegister appends type ‖ id (16) ‖ sealed registration.
func AppendPushRegister(b []byte, r PushRegister) []byte {
	b = append(b, TypePushRegister)
	b = append(b, r.ID[:]...)
	return append(b, r.Sealed...)
}

// ParsePushRegister parses a PushRegister body; Sealed aliases body.
func ParsePushRegister(body []byte) (PushRegister, error) {
	n := len(body) - 1 - PushRegistrationIDSize
	if n < 1 || n > MaxSealedRegistration || body[0] != TypePushRegister {
		return PushRegister{}, malformed("not a push registration")
	}
	var r PushRegister
	copy(r.ID[:], body[1:])
	r.Sealed = body[1+PushRegistrationIDSize:]
	return r, nil
}

// AppendPushUnregister appends type ‖ id (16).
func AppendPushUnregister(b []byte, id [PushRegistrationIDSize]byte) []byte {
	return append(append(b, TypePushUnregister), id[:]...)
}

// ParsePushUnregister parses a PushUnregister body.
func ParsePushUnregister(body []byte) ([PushRegistrationIDSize]byte, error) {
	var id [PushRegistrationIDSize]byte
	if len(body) != 1+PushRegistrationIDSize || body[0] != TypePushUnregister {
		return id, malformed("not a push unregistration")
	}
	copy(id[:], body[1:])
	return id, nil
}

// AppendPushList appends a PushList body (the type alone).
func AppendPushList(b []byte) []byte { return append(b, TypePushList) }

// ParsePushList checks a PushList body.
func ParsePushList(body []byte) error {
	if len(body) != 1 || body[0] != TypePushList {
		return malformed("not a push list request")
	}
	return nil
}

// PushState is one registration's state at the bridge.
type PushState struct {
	ID     [PushRegistrationIDSize]byte
	Dead   bool
	Reason string // why it died (the provider's answer), at most MaxPushReason bytes of UTF-8
}

// AppendPushStates appends type ‖ n (uvarint) ‖ n × (id (16) ‖ dead (1) ‖ reason length (1) ‖ reason).
func AppendPushStates(b []byte, states []PushState) []byte {
	b = append(b, TypePushStates)
	b = binary.AppendUvarint(b, uint64(len(states)))
	for _, s := range states {
		b = append(b, s.ID[:]...)
		dead := byte(0)
		if s.Dead {
			dead = 1
		}
		reason := truncateUTF8(s.Reason, MaxPushReason)
		b = append(b, dead, byte(len(reason)))
		b = append(b, reason...)
	}
	return b
}

// ParsePushStates parses a PushStates body.
func ParsePushStates(body []byte) ([]PushState, error) {
	if len(body) < 2 || body[0] != TypePushStates {
		return nil, malformed("not push states")
	}
	n, k, err := uvarint(body[1:])
	if err != nil || n > MaxPushStates {
		return nil, malformed("push state count")
	}
	rest := body[1+k:]
	out := make([]PushState, 0, n)
	for range n {
		if len(rest) < PushRegistrationIDSize+2 || rest[PushRegistrationIDSize] > 1 {
			return nil, malformed("push state")
		}
		var s PushState
		copy(s.ID[:], rest)
		s.Dead = rest[PushRegistrationIDSize] == 1
		rl := int(rest[PushRegistrationIDSize+1])
		rest = rest[PushRegistrationIDSize+2:]
		if len(rest) < rl || !utf8.Valid(rest[:rl]) {
			return nil, malformed("push state reason")
		}
		s.Reason = string(rest[:rl])
		rest = rest[rl:]
		out = append(out, s)
	}
	if len(rest) != 0 {
		return nil, malformed("push states: trailing bytes")
	}
	return out, nil
}

// AppendPushDND appends type ‖ until (8, Unix ms; 0 turns do-not-disturb off).
func AppendPushDND(b []byte, untilMs int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, TypePushDND), uint64(untilMs))
}

// ParsePushDND parses a PushDND body.
func ParsePushDND(body []byte) (int64, error) {
	if len(body) != 9 || body[0] != TypePushDND {
		return 0, malformed("not a do-not-disturb")
	}
	v := int64(binary.BigEndian.Uint64(body[1:]))
	if v < 0 {
		return 0, malformed("do-not-disturb time")
	}
	return v, nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
