package wire

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// What a KindSync content carries (its Status): a content the sender sent or made (a
// text, an edit, a delete, a reaction, a read receipt), or a contact as the sender's
// device holds it.
const (
	SyncContent = ""
	SyncContact = "contact"
)

// SyncedContact is a contact as one of our devices tells our others (KindSync, Status
// SyncContact, With its user id): who it is, where it is reached, and what the user
// decided about it. Devices is the contact's signed device list, when it has one.
type SyncedContact struct {
	UserID   string   `json:"user_id"`
	Identity []byte   `json:"identity"` // identity.PublicIdentity wire form
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs,omitempty"`
	Relays   []string `json:"relays,omitempty"`
	Name     string   `json:"name"`
	NameSet  bool     `json:"name_set,omitempty"`
	Verified bool     `json:"verified,omitempty"`
	Blocked  bool     `json:"blocked,omitempty"`
	Request  string   `json:"request,omitempty"`
	Devices  []byte   `json:"devices,omitempty"`
}

// MarshalSyncedContact encodes c after checking it as ParseSyncedContact would.
func MarshalSyncedContact(c *SyncedContact) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// ParseSyncedContact decodes a synced contact strictly.
func ParseSyncedContact(b []byte) (*SyncedContact, error) {
	if len(b) > MaxSyncData {
		return nil, fmt.Errorf("%w: synced contact of %d bytes", ErrMalformed, len(b))
	}
	var c SyncedContact
	if err := strictJSON(b, &c); err != nil {
		return nil, err
	}
	return &c, c.check()
}

func (c *SyncedContact) check() error {
	bad := func(f string) error { return fmt.Errorf("%w: synced contact: %s", ErrMalformed, f) }
	key, err := identity.ParsePublic(c.Identity)
	if err != nil || string(key.UserID()) != c.UserID {
		return bad("identity")
	}
	if len(c.PeerID) > 128 || len(c.Name) > MaxName || !utf8.ValidString(c.Name) ||
		len(c.Addrs) > MaxAddrs || len(c.Relays) > MaxAddrs || len(c.Devices) > MaxDeviceList ||
		len(c.Request) > 16 {
		return bad("fields")
	}
	for _, a := range append(append([]string{}, c.Addrs...), c.Relays...) {
		if a == "" || len(a) > MaxAddrLen {
			return bad("address")
		}
	}
	return nil
}
