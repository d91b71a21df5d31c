package push

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// MaxRegistrations bounds one node's registrations (a relay keeps 8 by default).
const MaxRegistrations = 8

// Per-relay states (api.PushRelayState).
const (
	StateActive   = "active"
	StateDead     = "dead"
	StateRefused  = "refused"
	StateNoBridge = "no_bridge"
	StatePending  = "pending"
)

const (
	recordVersion = 1
	// RecordPrefix prefixes the registration records: pu/<id>. (Format 2 and older
	// stores kept them under pr/, beside node/presence's last seen times there: the store
	// format step "push registrations apart from last seen" moves them.)
	RecordPrefix = "pu/"
)

var keyDND = []byte("ps/dnd")

// record is a registration as stored (ours, versioned; mapped to the API in toAPI).
type record struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Endpoint string `json:"endpoint,omitempty"`
	Token    string `json:"token,omitempty"`
	Topic    string `json:"topic,omitempty"`
	// P256dh and Auth are what the bridge encrypts to: the browser's keys (Web Push) or
	// ours (UnifiedPush, with Priv the private key).
	P256dh  []byte                 `json:"p256dh,omitempty"`
	Auth    []byte                 `json:"auth,omitempty"`
	Priv    []byte                 `json:"priv,omitempty"`
	Created int64                  `json:"created"`
	Deleted bool                   `json:"deleted,omitempty"`
	Relays  map[string]*relayState `json:"relays"`
}

// relayState is one relay's view of a registration.
type relayState struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Held: the relay listed it, so it needs no hand-over again.
	Held bool `json:"held,omitempty"`
}

func recordKey(id string) []byte { return []byte(RecordPrefix + id) }

func (r *record) wireID() (id [relaywire.PushRegistrationIDSize]byte) {
	hex.Decode(id[:], []byte(r.ID))
	return id
}

// wire is the registration as sealed to a bridge.
func (r *record) wire() relaywire.PushRegistration {
	w := relaywire.PushRegistration{Topic: r.Topic, P256dh: r.P256dh, Auth: r.Auth}
	switch r.Kind {
	case bridge.KindWebPush:
		w.Kind, w.Address = relaywire.PushKindWebPush, r.Endpoint
	case bridge.KindUnifiedPush:
		w.Kind, w.Address = relaywire.PushKindUnifiedPush, r.Endpoint
	case bridge.KindAPNs:
		w.Kind, w.Address = relaywire.PushKindAPNs, r.Token
	case bridge.KindFCM:
		w.Kind, w.Address = relaywire.PushKindFCM, r.Token
	}
	return w
}

// address is what makes two registrations the same.
func (r *record) address() string { return r.Kind + " " + r.Endpoint + r.Token }

// toAPI maps a record to the API's Registration. relays orders the relay states.
func (r *record) toAPI(relays []string) api.PushRegistration {
	out := api.PushRegistration{
		PushRegistrationRequest: api.PushRegistrationRequest{Kind: r.Kind, Endpoint: r.Endpoint, Token: r.Token, Topic: r.Topic},
		ID:                      r.ID, CreatedAt: r.Created, Relays: []api.PushRelayState{},
	}
	if r.Kind == bridge.KindWebPush {
		out.Keys = &api.PushKeys{P256dh: b64(r.P256dh), Auth: b64(r.Auth)}
	}
	var active, dead, noBridge int
	for _, rl := range relays {
		st := r.Relays[rl]
		if st == nil {
			st = &relayState{State: StatePending}
		}
		out.Relays = append(out.Relays, api.PushRelayState{Relay: rl, State: st.State, Error: st.Error})
		switch st.State {
		case StateActive:
			active++
		case StateDead, StateRefused:
			dead++
			if out.Error == "" {
				out.Error = st.Error
			}
		case StateNoBridge:
			noBridge++
		}
	}
	switch {
	case active > 0:
		out.State, out.Error = StateActive, ""
	case dead > 0:
		out.State = StateDead
	case len(relays) > 0 && noBridge == len(relays):
		out.State, out.Error = StateDead, "no home relay runs a push bridge"
	case len(relays) == 0:
		out.State, out.Error = StateDead, "no home relays"
	default:
		out.State = StateActive // being handed over (relays say pending)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeB64 accepts base64url with or without padding (browsers differ).
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// newRecord validates a request and makes its record (with fresh keys for UnifiedPush).
func newRecord(req api.PushRegistrationRequest) (*record, error) {
	bad := func(f string, a ...any) error { return api.Errorf(api.ErrBadRequest, f, a...) }
	r := &record{V: recordVersion, Kind: req.Kind, Relays: map[string]*relayState{}}
	switch req.Kind {
	case bridge.KindWebPush, bridge.KindUnifiedPush:
		if req.Token != "" || req.Topic != "" {
			return nil, bad("%s registrations take endpoint (and keys), not token or topic", req.Kind)
		}
		u, err := url.Parse(req.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(req.Endpoint) > relaywire.MaxPushAddress {
			return nil, bad("endpoint must be an http(s) URL of at most %d bytes", relaywire.MaxPushAddress)
		}
		r.Endpoint = req.Endpoint
		if req.Kind == bridge.KindWebPush {
			if req.Keys == nil {
				return nil, bad("webpush registrations need keys {p256dh, auth}")
			}
			p, err1 := decodeB64(req.Keys.P256dh)
			a, err2 := decodeB64(req.Keys.Auth)
			if err1 != nil || err2 != nil || len(a) != 16 {
				return nil, bad("keys.p256dh and keys.auth must be base64url (auth: 16 bytes)")
			}
			if _, err := ecdh.P256().NewPublicKey(p); err != nil {
				return nil, bad("keys.p256dh is not a P-256 public key")
			}
			r.P256dh, r.Auth = p, a
		} else {
			if req.Keys != nil {
				return nil, bad("unifiedpush registrations take no keys: the node makes them")
			}
			k, err := ecdh.P256().GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			r.Priv, r.P256dh = k.Bytes(), k.PublicKey().Bytes()
			r.Auth = make([]byte, 16)
			rand.Read(r.Auth)
		}
	case bridge.KindAPNs:
		b, err := hex.DecodeString(req.Token)
		if err != nil || len(b) < 32 || len(b) > 100 {
			return nil, bad("an APNs token is 32 to 100 bytes of hex")
		}
		switch {
		case req.Topic == "":
			return nil, bad("an apns registration needs its topic (the app's bundle id)")
		case len(req.Topic) > relaywire.MaxPushTopic:
			return nil, bad("an apns topic is at most %d bytes", relaywire.MaxPushTopic)
		case req.Endpoint != "" || req.Keys != nil:
			return nil, bad("apns registrations take token and topic (the bundle id) only")
		}
		r.Token, r.Topic = strings.ToLower(req.Token), req.Topic
	case bridge.KindFCM:
		if req.Token == "" || len(req.Token) > relaywire.MaxPushAddress || req.Endpoint != "" || req.Keys != nil || req.Topic != "" {
			return nil, bad("fcm registrations take a token (at most %d bytes) only", relaywire.MaxPushAddress)
		}
		r.Token = req.Token
	default:
		return nil, bad("kind must be unifiedpush, webpush, apns or fcm")
	}
	if _, err := relaywire.ParsePushRegistration(relaywire.AppendPushRegistration(nil, r.wire())); err != nil {
		return nil, bad("registration does not fit the relay protocol")
	}
	var id [relaywire.PushRegistrationIDSize]byte
	rand.Read(id[:])
	r.ID = hex.EncodeToString(id[:])
	return r, nil
}

// loadRecords reads every record (deleted ones too), ordered by creation.
func loadRecords(tx *store.Tx) ([]*record, error) {
	var out []*record
	err := tx.Iterate(store.IterOptions{Prefix: []byte(RecordPrefix)}, func(_, v []byte) (bool, error) {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("push: registration record: %w", err)
		}
		if r.V != recordVersion {
			return false, fmt.Errorf("push: registration record of unknown version %d", r.V)
		}
		if r.Relays == nil {
			r.Relays = map[string]*relayState{}
		}
		out = append(out, &r)
		return true, nil
	})
	slices.SortStableFunc(out, func(a, b *record) int { return int(a.Created - b.Created) })
	return out, err
}

func putRecord(tx *store.Tx, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Set(recordKey(r.ID), b)
}

// OpenUnifiedPush decrypts a push that arrived for UnifiedPush registration id with the
// node's keys (read in tx), and returns the sealed envelope it carries (nil for a
// content-free wake-up).
func OpenUnifiedPush(tx *store.Tx, id string, body []byte) ([]byte, error) {
	var r record
	v, err := tx.Get(recordKey(id))
	if err == nil {
		err = json.Unmarshal(v, &r)
	}
	if err != nil {
		return nil, fmt.Errorf("push: registration %s: %w", id, err)
	}
	if r.Kind != bridge.KindUnifiedPush || r.Priv == nil {
		return nil, fmt.Errorf("push: registration %s is not a UnifiedPush one", id)
	}
	k, err := ecdh.P256().NewPrivateKey(r.Priv)
	if err != nil {
		return nil, err
	}
	pt, err := webpush.Decrypt(k, r.Auth, body)
	if err != nil {
		return nil, err
	}
	env, ok := bridge.ParsePayload(pt)
	if !ok {
		return nil, errors.New("push: not a petrel push")
	}
	return env, nil
}
