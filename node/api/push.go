package api

// PushKeys are a Web Push subscription's keys, as a browser's PushSubscription serialises
// them (base64url).
type PushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// PushRegistrationRequest is POST /v1/push/registrations (API.md §7).
type PushRegistrationRequest struct {
	Kind     string    `json:"kind"`
	Endpoint string    `json:"endpoint,omitempty"`
	Keys     *PushKeys `json:"keys,omitempty"`
	Token    string    `json:"token,omitempty"`
	Topic    string    `json:"topic,omitempty"`
}

// PushRelayState is one home relay's view of a registration (extension).
type PushRelayState struct {
	Relay string `json:"relay"`
	// State: active, dead (the provider's reason in error), refused (the bridge will not
	// serve it; its reason in error), no_bridge (the relay runs no push bridge), pending
	// (not handed over yet).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// PushRegistration is a Registration (API.md §7): the request plus id, created_at, state
// and error; relays is an extension.
type PushRegistration struct {
	PushRegistrationRequest
	ID        string           `json:"id"`
	CreatedAt int64            `json:"created_at"`
	State     string           `json:"state"`
	Error     string           `json:"error,omitempty"`
	Relays    []PushRelayState `json:"relays"`
}

// PushRegistrations is GET /v1/push/registrations.
type PushRegistrations struct {
	Registrations []PushRegistration `json:"registrations"`
}

// PushSettings is the push part of /v1/settings: {"dnd_until": MS|null}.
type PushSettings struct {
	DNDUntil *int64 `json:"dnd_until"`
}
