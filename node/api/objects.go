package api

import (
	"encoding/json"
	"strconv"
)

// Me is GET /v1/me.
type Me struct {
	UserID            string   `json:"user_id"`
	Name              string   `json:"name"`
	PeerID            string   `json:"peer_id"`
	Addrs             []string `json:"addrs"`
	Relays            []string `json:"relays"`
	SafetyFingerprint string   `json:"safety_fingerprint"`
	// Device (extension, docs/API.md §8) is this node within its account.
	Device CurrentDevice `json:"device"`
}

// CurrentDevice is this node within its account (GET /v1/me's device, and the
// device_revoked event): its device id and name, whether it is the account's primary,
// and when the account's primary revoked it (Unix ms; null while it is active).
type CurrentDevice struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Primary   bool   `json:"primary"`
	RevokedAt *int64 `json:"revoked_at"`
}

// MePatch is PATCH /v1/me.
type MePatch struct {
	Name *string `json:"name"`
}

// RelayStatus is one home relay in Status.
type RelayStatus struct {
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
}

// Status is GET /v1/status.
type Status struct {
	Peers   int           `json:"peers"`
	Relays  []RelayStatus `json:"relays"`
	Outbox  int           `json:"outbox"`
	UptimeS int64         `json:"uptime_s"`
}

// Event kinds (API.md §5).
const (
	KindMessage       = "message"
	KindMessageUpdate = "message_update"
	KindConversation  = "conversation"
	KindContact       = "contact"
	// KindMe is an extension: the node's own profile changed (PATCH /v1/me from any UI).
	KindMe = "me"
	// KindDeviceRevoked is an extension (docs/API.md §8): the account's primary revoked
	// this device; its object is the CurrentDevice, under "device_revoked". Sent once.
	KindDeviceRevoked = "device_revoked"
)

// Event is one entry of the node's event log, as sent on the socket and by GET /v1/events:
// {"type":"event","seq":N,"kind":K, K: object}. Payload holds the object's JSON and is
// emitted under the key named by Kind — except message_update, whose Message is under
// "message", as API.md §5 has it.
type Event struct {
	Seq     uint64
	Kind    string
	Payload json.RawMessage
}

// payloadKey is the key an event's object is sent under: the kind's name, except that a
// message_update carries its Message under "message" (API.md §5).
func payloadKey(kind string) string {
	if kind == KindMessageUpdate {
		return KindMessage
	}
	return kind
}

// MarshalJSON writes the API.md §5 shape with `type` first, then seq, kind and the object:
// {"type":"event","seq":N,"kind":K,"K":{...}} (a map would sort the keys).
func (e Event) MarshalJSON() ([]byte, error) {
	kind, err := json.Marshal(e.Kind)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 48+len(kind)*2+len(e.Payload))
	b = append(b, `{"type":"event","seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"kind":`...)
	b = append(b, kind...)
	if len(e.Payload) > 0 {
		key, err := json.Marshal(payloadKey(e.Kind))
		if err != nil {
			return nil, err
		}
		b = append(b, ',')
		b = append(b, key...)
		b = append(b, ':')
		b = append(b, e.Payload...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the API.md §5 shape.
func (e *Event) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var ev Event
	if err := json.Unmarshal(m["seq"], &ev.Seq); err != nil {
		return err
	}
	if err := json.Unmarshal(m["kind"], &ev.Kind); err != nil {
		return err
	}
	ev.Payload = m[payloadKey(ev.Kind)]
	*e = ev
	return nil
}

// EventPage is GET /v1/events.
type EventPage struct {
	Events []Event `json:"events"`
	// Next is the seq to pass as since for the following page: the last returned event's
	// seq, or the request's since when nothing was returned.
	Next uint64 `json:"next"`
}
