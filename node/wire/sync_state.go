package wire

import (
	"fmt"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/sync/hlc"
)

// More of what a KindSync content carries (its Status; With is the account's own user id
// for these): the sending device's own reachability, for the primary to sign into the
// device list (SyncDevice); the account's settings (SyncSettings); a conversation's mute
// (SyncMute); and how far a contact got with our messages (SyncReceipt). Each is strict
// JSON and taken only from one of our own devices (docs/PROTOCOL.md, "Linked devices").
const (
	SyncDevice   = "device"
	SyncSettings = "settings"
	SyncMute     = "mute"
	SyncReceipt  = "receipt"
)

// validSyncStatus reports whether s is a KindSync status this version knows.
func validSyncStatus(s string) bool {
	switch s {
	case SyncContent, SyncContact, SyncDevice, SyncSettings, SyncMute, SyncReceipt:
		return true
	}
	return false
}

// SyncedDevice is the sending device's own listen addresses (without /p2p/) and home
// relays, sent to the account's primary, which puts them in the device's list entry.
type SyncedDevice struct {
	Addrs  []string `json:"addrs"`
	Relays []string `json:"relays"`
}

// SyncedSettings is the account's settings as the device that changed them last holds
// them, at TS (its hybrid logical clock): the last writer wins. DNDUntil is the push
// do-not-disturb end (Unix ms; 0 none).
type SyncedSettings struct {
	TS           string `json:"ts"`
	Presence     string `json:"presence"`
	ReadReceipts bool   `json:"read_receipts"`
	DNDUntil     int64  `json:"dnd_until,omitempty"`
}

// SyncedMute is conversation Conv's mute (MutedUntil Unix ms; 0 not muted) as set at TS.
type SyncedMute struct {
	TS         string `json:"ts"`
	Conv       string `json:"conv"`
	MutedUntil int64  `json:"muted_until,omitempty"`
}

// SyncedReceipt is a rise of our messages IDs' status (delivered or read) that a contact's
// device acknowledged, At (Unix ms) as the device that got the receipt saw it.
type SyncedReceipt struct {
	Status string   `json:"status"`
	IDs    []string `json:"ids"`
	At     int64    `json:"at"`
}

func syncBad(what string) error { return fmt.Errorf("%w: synced %s", ErrMalformed, what) }

func checkAddrs(as []string) error {
	if len(as) > MaxAddrs {
		return syncBad("addresses")
	}
	for _, a := range as {
		if a == "" || len(a) > MaxAddrLen || !utf8.ValidString(a) {
			return syncBad("address")
		}
	}
	return nil
}

func checkTS(ts string) error {
	if _, err := hlc.Parse(ts); err != nil {
		return syncBad("timestamp")
	}
	return nil
}

// ParseSyncedDevice decodes a synced device strictly.
func ParseSyncedDevice(b []byte) (*SyncedDevice, error) {
	var d SyncedDevice
	if err := parseSynced(b, &d); err != nil {
		return nil, err
	}
	if err := checkAddrs(d.Addrs); err != nil {
		return nil, err
	}
	return &d, checkAddrs(d.Relays)
}

// ParseSyncedSettings decodes synced settings strictly.
func ParseSyncedSettings(b []byte) (*SyncedSettings, error) {
	var s SyncedSettings
	if err := parseSynced(b, &s); err != nil {
		return nil, err
	}
	if s.Presence != "contacts" && s.Presence != "nobody" || s.DNDUntil < 0 {
		return nil, syncBad("settings")
	}
	return &s, checkTS(s.TS)
}

// ParseSyncedMute decodes a synced mute strictly.
func ParseSyncedMute(b []byte) (*SyncedMute, error) {
	var m SyncedMute
	if err := parseSynced(b, &m); err != nil {
		return nil, err
	}
	if !validID(m.Conv) || m.MutedUntil < 0 {
		return nil, syncBad("mute")
	}
	return &m, checkTS(m.TS)
}

// ParseSyncedReceipt decodes a synced receipt strictly.
func ParseSyncedReceipt(b []byte) (*SyncedReceipt, error) {
	var r SyncedReceipt
	if err := parseSynced(b, &r); err != nil {
		return nil, err
	}
	if r.Status != ReceiptDelivered && r.Status != ReceiptRead || len(r.IDs) == 0 || len(r.IDs) > MaxReceiptID || r.At < 0 {
		return nil, syncBad("receipt")
	}
	for _, id := range r.IDs {
		if !validID(id) {
			return nil, syncBad("receipt id")
		}
	}
	return &r, nil
}

func parseSynced(b []byte, v any) error {
	if len(b) > MaxSyncData {
		return syncBad("value too large")
	}
	return strictJSON(b, v)
}
