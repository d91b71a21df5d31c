package relayserver

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
)

// PushConfig turns the push bridge on (docs/OPERATIONS.md "Push bridge"). With it present,
// UnifiedPush and Web Push run with a VAPID key kept in the data directory; APNs and FCM run
// when their credentials are given.
type PushConfig struct {
	// AllowPrivateEndpoints lets Web Push and UnifiedPush endpoints be plain http and on
	// loopback or private addresses (off: refused, against SSRF).
	AllowPrivateEndpoints bool `json:"allow_private_endpoints"`
	// MinInterval is the coalescing window: at most one push per registration per interval
	// (default 10s).
	MinInterval Duration `json:"min_interval"`
	// MaxRegistrations bounds one owner's registrations (default 8).
	MaxRegistrations int `json:"max_registrations"`
	// VAPIDKeyFile holds the VAPID key pair (default DATA/push/vapid.json, created).
	VAPIDKeyFile string `json:"vapid_key_file,omitempty"`
	// VAPIDSubject is the contact in VAPID tokens (mailto: or https:).
	VAPIDSubject string `json:"vapid_subject"`
	// APNs, when set, enables Apple pushes.
	APNs *APNsConfig `json:"apns,omitempty"`
	// FCM, when set, enables Firebase pushes.
	FCM *FCMConfig `json:"fcm,omitempty"`
}

// APNsConfig are the APNs token-auth credentials.
type APNsConfig struct {
	KeyFile string `json:"key_file"` // the .p8 key
	KeyID   string `json:"key_id"`
	TeamID  string `json:"team_id"`
	// Sandbox sends to the development environment.
	Sandbox bool `json:"sandbox,omitempty"`
	// Host overrides the provider API URL; CAFile adds roots for it (tests, proxies).
	Host   string `json:"host,omitempty"`
	CAFile string `json:"ca_file,omitempty"`
}

// FCMConfig are the FCM credentials.
type FCMConfig struct {
	ServiceAccountFile string `json:"service_account_file"`
	// Endpoint overrides the API base URL.
	Endpoint string `json:"endpoint,omitempty"`
}

// withDefaults fills the zero fields of a PushConfig.
func (p PushConfig) withDefaults() PushConfig {
	if p.MinInterval == 0 {
		p.MinInterval = Duration(bridge.DefaultMinInterval)
	}
	if p.MaxRegistrations == 0 {
		p.MaxRegistrations = 8
	}
	if p.VAPIDSubject == "" {
		p.VAPIDSubject = "https://github.com/petrel-chat/petrel"
	}
	return p
}

func (p *PushConfig) validate() error {
	var errs []error
	if p.MinInterval < 0 || time.Duration(p.MinInterval) > time.Hour {
		errs = append(errs, errors.New("push: min_interval out of 0..1h"))
	}
	if p.MaxRegistrations < 0 || p.MaxRegistrations > 64 {
		errs = append(errs, errors.New("push: max_registrations out of 0..64"))
	}
	if a := p.APNs; a != nil {
		if a.KeyFile == "" || a.KeyID == "" || a.TeamID == "" {
			errs = append(errs, errors.New("push.apns: key_file, key_id and team_id are required"))
		} else if _, err := os.Stat(a.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("push.apns: %w", err))
		}
	}
	if f := p.FCM; f != nil {
		if _, err := os.Stat(f.ServiceAccountFile); err != nil {
			errs = append(errs, fmt.Errorf("push.fcm: service_account_file: %w", err))
		}
	}
	return errors.Join(errs...)
}
