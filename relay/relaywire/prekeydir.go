package relaywire

import (
	"encoding/binary"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/prekey"
)

// Upload carries an owner's prekeys to its relay. The relay verifies the signatures against
// the authenticated identity; this package only checks the keys' forms.
type Upload struct {
	SignedPrekey prekey.SignedPrekey
	LastResort   prekey.PQPrekey // kind LastResort
	OneTime      []prekey.OneTimePrekey
	PQOneTime    []prekey.PQPrekey // kind OneTime
}

// AppendUpload appends u's body:
//
//	type ‖ signed prekey (108) ‖ last-resort PQ prekey (1262) ‖
//	n (uvarint) ‖ n one-time prekeys (36 each) ‖ m (uvarint) ‖ m PQ one-time prekeys (1262 each)
func AppendUpload(b []byte, u *Upload) []byte {
	b = append(b, TypeUpload)
	b = append(b, u.SignedPrekey.Bytes()...)
	b = append(b, u.LastResort.Bytes()...)
	b = binary.AppendUvarint(b, uint64(len(u.OneTime)))
	for _, k := range u.OneTime {
		b = append(b, k.Bytes()...)
	}
	b = binary.AppendUvarint(b, uint64(len(u.PQOneTime)))
	for _, k := range u.PQOneTime {
		b = append(b, k.Bytes()...)
	}
	return b
}

// ParseUpload parses an Upload body. Keys are parsed (canonical, not low order, valid ML-KEM
// keys, right kinds) but signatures are not verified.
func ParseUpload(body []byte) (*Upload, error) {
	if len(body) < 1+prekey.SignedPrekeySize+prekey.PQPrekeySize+2 || body[0] != TypeUpload {
		return nil, malformed("not an upload")
	}
	u := &Upload{}
	var err error
	r := body[1:]
	if u.SignedPrekey, err = prekey.ParseSignedPrekey(r[:prekey.SignedPrekeySize]); err != nil {
		return nil, fmt.Errorf("%w: upload signed prekey: %w", ErrMalformed, err)
	}
	r = r[prekey.SignedPrekeySize:]
	if u.LastResort, err = prekey.ParsePQPrekey(r[:prekey.PQPrekeySize]); err != nil || u.LastResort.Kind() != prekey.LastResort {
		return nil, malformed("upload last-resort prekey")
	}
	r = r[prekey.PQPrekeySize:]
	n, k, err := uvarint(r)
	if err != nil || n > MaxUploadKeys || uint64(len(r)-k) < n*prekey.OneTimePrekeySize {
		return nil, malformed("upload one-time prekeys")
	}
	r = r[k:]
	for i := uint64(0); i < n; i++ {
		opk, err := prekey.ParseOneTimePrekey(r[:prekey.OneTimePrekeySize])
		if err != nil {
			return nil, fmt.Errorf("%w: upload one-time prekey: %w", ErrMalformed, err)
		}
		u.OneTime = append(u.OneTime, opk)
		r = r[prekey.OneTimePrekeySize:]
	}
	m, k, err := uvarint(r)
	if err != nil || m > MaxUploadKeys || uint64(len(r)-k) != m*prekey.PQPrekeySize {
		return nil, malformed("upload PQ one-time prekeys")
	}
	r = r[k:]
	for i := uint64(0); i < m; i++ {
		pq, err := prekey.ParsePQPrekey(r[:prekey.PQPrekeySize])
		if err != nil || pq.Kind() != prekey.OneTime {
			return nil, malformed("upload PQ one-time prekey")
		}
		u.PQOneTime = append(u.PQOneTime, pq)
		r = r[prekey.PQPrekeySize:]
	}
	return u, nil
}

// Remaining says how many one-time prekeys of each kind the relay still holds for the owner.
type Remaining struct {
	OneTime, PQOneTime int
}

// AppendRemaining appends r's body: type ‖ one-time (uvarint) ‖ PQ one-time (uvarint).
func AppendRemaining(b []byte, r Remaining) []byte {
	b = append(b, TypeRemaining)
	b = binary.AppendUvarint(b, uint64(r.OneTime))
	return binary.AppendUvarint(b, uint64(r.PQOneTime))
}

// ParseRemaining parses a Remaining body.
func ParseRemaining(body []byte) (Remaining, error) {
	if len(body) < 3 || body[0] != TypeRemaining {
		return Remaining{}, malformed("not a remaining")
	}
	a, k1, err := uvarint(body[1:])
	if err != nil || a > 1<<31 {
		return Remaining{}, malformed("remaining one-time")
	}
	b, k2, err := uvarint(body[1+k1:])
	if err != nil || b > 1<<31 || 1+k1+k2 != len(body) {
		return Remaining{}, malformed("remaining PQ one-time")
	}
	return Remaining{OneTime: int(a), PQOneTime: int(b)}, nil
}

// AppendCount appends a Count body (the type alone): the owner asks for Remaining.
func AppendCount(b []byte) []byte { return append(b, TypeCount) }

// ParseCount checks a Count body.
func ParseCount(body []byte) error {
	if len(body) != 1 || body[0] != TypeCount {
		return malformed("not a count")
	}
	return nil
}

// AppendGetBundle appends a GetBundle body: type ‖ mailbox id (16).
func AppendGetBundle(b []byte, mailbox []byte) []byte {
	b = append(b, TypeGetBundle)
	return append(b, mailbox...)
}

// ParseGetBundle parses a GetBundle body; the mailbox id aliases body.
func ParseGetBundle(body []byte) ([]byte, error) {
	if len(body) != 1+MailboxIDSize || body[0] != TypeGetBundle {
		return nil, malformed("not a bundle request")
	}
	return body[1:], nil
}

// AppendBundle appends a Bundle body: type ‖ prekey bundle (prekey.Bundle.Marshal).
func AppendBundle(b []byte, bundle []byte) []byte {
	b = append(b, TypeBundle)
	return append(b, bundle...)
}

// ParseBundle parses and verifies a Bundle body.
func ParseBundle(body []byte) (*prekey.Bundle, error) {
	if len(body) < 2 || body[0] != TypeBundle {
		return nil, malformed("not a bundle")
	}
	bn, err := prekey.ParseBundle(body[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	return bn, nil
}
