package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// Device list limits (specification constants: every node enforces the same ones).
const (
	// DeviceListVersion is the first byte of a signed device list.
	DeviceListVersion = 0x01
	// MaxDevices bounds the entries of one list, revoked ones included (at least 6 active
	// devices per account are required; revoked entries stay listed as tombstones).
	MaxDevices = 16
	// MaxDeviceList bounds one signed device list.
	MaxDeviceList = 24 << 10
	// deviceIDLabel separates the hash that names a device.
	deviceIDLabel = "petrel_v1_device_id\x00"
)

// Device is one device of an account as its signed list carries it.
//
// Key is the device's own key pair's public half (identity.PublicIdentity wire form): the
// device's sessions are PQXDH sessions under this key, its sealed envelopes are signed by it,
// and its prekeys are signed by it. The account's first device uses the account identity
// itself as its device key, so a single-device account needs no list at all.
type Device struct {
	ID      string   `json:"id"`                // DeviceID(Key)
	Key     []byte   `json:"key"`               // identity.PublicIdentity wire form
	PeerID  string   `json:"peer_id"`           // the device's libp2p peer id
	Addrs   []string `json:"addrs,omitempty"`   // without /p2p/
	Relays  []string `json:"relays,omitempty"`  // the device's home relays, full multiaddrs
	Name    string   `json:"name"`              // chosen by the user ("phone")
	Added   int64    `json:"added"`             // Unix ms
	Revoked int64    `json:"revoked,omitempty"` // Unix ms; 0 while the device is active
}

// DeviceList is an account's set of devices. Seq only grows: a node keeps the list with the
// highest Seq it has verified and ignores any other.
type DeviceList struct {
	Account string   `json:"account"` // the account's user id
	Seq     uint64   `json:"seq"`
	Devices []Device `json:"devices"`
}

// SignedDeviceList is a parsed, not yet verified, device list with its signature.
type SignedDeviceList struct {
	List *DeviceList
	Raw  []byte
	body []byte
	sig  []byte
}

// DeviceID names a device by its key: "d" and 32 hex digits of a labelled SHA-256.
func DeviceID(key *identity.PublicIdentity) string {
	sum := sha256.Sum256(append([]byte(deviceIDLabel), key.Bytes()...))
	return "d" + hex.EncodeToString(sum[:16])
}

// SignDeviceList encodes l and signs it with the account identity:
// 0x01 ‖ uvarint(len(body)) ‖ body (JSON) ‖ Ed25519 signature (64) under
// identity.DomainDeviceList over body.
func SignDeviceList(account *identity.Identity, l *DeviceList) ([]byte, error) {
	if l.Account != string(account.UserID()) {
		return nil, fmt.Errorf("%w: device list of %.20q signed by another account", ErrMalformed, l.Account)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("wire: device list: %w", err)
	}
	return signJSON(account, identity.DomainDeviceList, DeviceListVersion, MaxDeviceList, "device list", body)
}

// ParseDeviceList decodes a signed device list strictly. It does not check the signature:
// the account's key comes from the contact (Verify).
func ParseDeviceList(b []byte) (*SignedDeviceList, error) {
	body, sig, err := splitSigned(b, DeviceListVersion, MaxDeviceList, "device list")
	if err != nil {
		return nil, err
	}
	var l DeviceList
	if err := strictJSON(body, &l); err != nil {
		return nil, err
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return &SignedDeviceList{List: &l, Raw: b, body: body, sig: sig}, nil
}

// Verify checks that the list is the account's and is signed by the account identity.
func (s *SignedDeviceList) Verify(account *identity.PublicIdentity) bool {
	return string(account.UserID()) == s.List.Account && account.Verify(identity.DomainDeviceList, s.body, s.sig)
}

// Active returns the devices not revoked, in list order.
func (l *DeviceList) Active() []Device {
	var out []Device
	for _, d := range l.Devices {
		if d.Revoked == 0 {
			out = append(out, d)
		}
	}
	return out
}

// Find returns the device with id, active or revoked.
func (l *DeviceList) Find(id string) (Device, bool) {
	for _, d := range l.Devices {
		if d.ID == id {
			return d, true
		}
	}
	return Device{}, false
}

// FindPeer returns the device whose libp2p peer id is pid, active or revoked.
func (l *DeviceList) FindPeer(pid string) (Device, bool) {
	for _, d := range l.Devices {
		if d.PeerID == pid {
			return d, true
		}
	}
	return Device{}, false
}

func (l *DeviceList) check() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: device list: "+f, append([]any{ErrMalformed}, a...)...)
	}
	if !validID(l.Account) {
		return bad("account")
	}
	if l.Seq == 0 {
		return bad("seq 0")
	}
	if len(l.Devices) == 0 || len(l.Devices) > MaxDevices {
		return bad("%d devices", len(l.Devices))
	}
	ids, peers, active := map[string]bool{}, map[string]bool{}, 0
	for i := range l.Devices {
		d := &l.Devices[i]
		key, err := identity.ParsePublic(d.Key)
		if err != nil || d.ID != DeviceID(key) {
			return bad("device %d key", i)
		}
		if d.PeerID == "" || len(d.PeerID) > 128 || len(d.Name) > MaxName || !utf8.ValidString(d.Name) ||
			len(d.Addrs) > MaxAddrs || len(d.Relays) > MaxAddrs || d.Added <= 0 || d.Revoked < 0 {
			return bad("device %d", i)
		}
		for _, a := range append(append([]string{}, d.Addrs...), d.Relays...) {
			if a == "" || len(a) > MaxAddrLen {
				return bad("device %d address", i)
			}
		}
		if ids[d.ID] || peers[d.PeerID] {
			return bad("device %d listed twice", i)
		}
		ids[d.ID], peers[d.PeerID] = true, true
		if d.Revoked == 0 {
			active++
		}
	}
	if active == 0 {
		return bad("no active device")
	}
	return nil
}
