package relayserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Registration policies.
const (
	PolicyOpen      = "open"      // anyone who proves an identity key may register
	PolicyInvite    = "invite"    // the Proof must carry one of InviteCodes
	PolicyAllowList = "allowlist" // the registering libp2p peer must be in AllowPeers
)

// Duration is a time.Duration written as a Go duration string ("720h", "90s") in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config is the relay's configuration file (JSON). docs/OPERATIONS.md documents every field;
// DefaultConfig gives the defaults, and a file only needs the fields it changes.
type Config struct {
	// Listen are libp2p listen multiaddrs (TCP, QUIC and WebSocket).
	Listen []string `json:"listen"`
	// Announce, if set, replaces the addresses the relay advertises (its public ones).
	Announce []string `json:"announce,omitempty"`
	// MetricsAddr is host:port for /metrics and /healthz over HTTP; "" turns them off.
	MetricsAddr string `json:"metrics_addr"`
	// ForcePublic skips AutoNAT's verdict and treats the relay as publicly reachable.
	ForcePublic bool `json:"force_public"`

	Registration Registration  `json:"registration"`
	Mailbox      MailboxLimits `json:"mailbox"`
	Prekeys      PrekeyLimits  `json:"prekeys"`
	Circuit      Circuit       `json:"circuit"`
	Blobs        BlobLimits    `json:"blobs"` // blob.go
	Resources    Resources     `json:"resources"`
	// Push, when present, runs the push bridge (push_config.go).
	Push *PushConfig `json:"push,omitempty"`
	// Cluster, if set, keeps the relay's state in NATS JetStream shared with the other
	// processes of a relay cluster instead of the Badger store (docs/OPERATIONS.md).
	Cluster *clusterstore.Config `json:"cluster,omitempty"`
}

// Registration says who may create a mailbox here.
type Registration struct {
	Policy      string   `json:"policy"`
	InviteCodes []string `json:"invite_codes,omitempty"`
	AllowPeers  []string `json:"allow_peers,omitempty"`
	// Rate and Burst limit registration attempts per peer (a node registers once per start;
	// this stops one peer from filling the store with throwaway identities).
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// MailboxLimits are the mailbox quotas and rates.
type MailboxLimits struct {
	MaxBytes         int64    `json:"max_bytes"`
	MaxMessages      int64    `json:"max_messages"`
	MaxEnvelopeBytes int      `json:"max_envelope_bytes"`
	TTL              Duration `json:"ttl"`
	PurgeInterval    Duration `json:"purge_interval"`
	// Deposit rates (messages per second, 0 = unlimited) and bursts.
	PeerRate     float64 `json:"peer_rate"`
	PeerBurst    int     `json:"peer_burst"`
	MailboxRate  float64 `json:"mailbox_rate"`
	MailboxBurst int     `json:"mailbox_burst"`
	// MaxWatchers bounds concurrent watch streams per mailbox.
	MaxWatchers int `json:"max_watchers"`
	// MaxRecipients bounds the mailboxes of one multi deposit (1..500).
	MaxRecipients int `json:"max_recipients"`
	// StreamTimeout bounds a request's exchange (a watch stream has none).
	StreamTimeout Duration `json:"stream_timeout"`
}

// PrekeyLimits bound the prekey directory.
type PrekeyLimits struct {
	// MaxOneTime is how many one-time prekeys of each kind the relay keeps per owner.
	MaxOneTime int `json:"max_one_time"`
	// BundleRate and BundleBurst limit bundle requests per requesting peer.
	BundleRate  float64 `json:"bundle_rate"`
	BundleBurst int     `json:"bundle_burst"`
}

// Circuit configures the circuit relay v2 service (reachability, not mail).
type Circuit struct {
	Enabled              bool     `json:"enabled"`
	MaxReservations      int      `json:"max_reservations"`
	MaxReservationsPerIP int      `json:"max_reservations_per_ip"`
	MaxCircuits          int      `json:"max_circuits"`
	ReservationTTL       Duration `json:"reservation_ttl"`
	Duration             Duration `json:"duration"`
	DataBytes            int64    `json:"data_bytes"`
}

// Resources are the libp2p host's connection and resource limits.
type Resources struct {
	MaxConns        int   `json:"max_conns"`
	MaxInboundConns int   `json:"max_inbound_conns"`
	ConnsPerPeer    int   `json:"conns_per_peer"`
	ConnsPerIPv4    int   `json:"conns_per_ipv4"`
	ConnsPerIPv6    int   `json:"conns_per_ipv6_64"`
	MaxStreams      int   `json:"max_streams"`
	StreamsPerPeer  int   `json:"streams_per_peer"`
	MemoryBytes     int64 `json:"memory_bytes"`
	FDs             int   `json:"fds"`
	ConnLowWater    int   `json:"conn_low_water"`
	ConnHighWater   int   `json:"conn_high_water"`
}

// DefaultConfig is the configuration of a community relay for tens of thousands of nodes.
func DefaultConfig() Config {
	return Config{
		Listen:       []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip4/0.0.0.0/tcp/0/ws"},
		ForcePublic:  true,
		Registration: Registration{Policy: PolicyOpen, Rate: 1, Burst: 20},
		Mailbox: MailboxLimits{
			MaxBytes:         64 << 20,
			MaxMessages:      50_000,
			MaxEnvelopeBytes: 1<<20 + 4<<10,
			TTL:              Duration(30 * 24 * time.Hour),
			PurgeInterval:    Duration(time.Minute),
			PeerRate:         500,
			PeerBurst:        2000,
			MailboxRate:      200,
			MailboxBurst:     1000,
			MaxWatchers:      4,
			MaxRecipients:    relaywire.MaxRecipients,
			StreamTimeout:    Duration(30 * time.Second),
		},
		Prekeys: PrekeyLimits{MaxOneTime: 200, BundleRate: 5, BundleBurst: 50},
		Blobs:   DefaultBlobLimits(),
		Circuit: Circuit{
			Enabled:              true,
			MaxReservations:      4096,
			MaxReservationsPerIP: 32,
			MaxCircuits:          16,
			ReservationTTL:       Duration(time.Hour),
			Duration:             Duration(2 * time.Minute),
			DataBytes:            128 << 10,
		},
		Resources: Resources{
			MaxConns:        32_768,
			MaxInboundConns: 30_000,
			ConnsPerPeer:    8,
			ConnsPerIPv4:    256,
			ConnsPerIPv6:    256,
			MaxStreams:      131_072,
			StreamsPerPeer:  64,
			MemoryBytes:     2 << 30,
			FDs:             65_536,
			ConnLowWater:    25_000,
			ConnHighWater:   30_000,
		},
	}
}

// LoadConfig reads a JSON config file over DefaultConfig; unknown fields are an error, so a
// typo does not silently leave a default in place.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("relay config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("relay config %s: %w", path, err)
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration for mistakes an operator would want to hear about.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range append(append([]string(nil), c.Listen...), c.Announce...) {
		if _, err := ma.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Errorf("address %q: %w", a, err))
		}
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("listen: no addresses"))
	}
	switch c.Registration.Policy {
	case PolicyOpen:
	case PolicyInvite:
		if len(c.Registration.InviteCodes) == 0 {
			errs = append(errs, errors.New("registration: policy invite without invite_codes"))
		}
	case PolicyAllowList:
		if len(c.Registration.AllowPeers) == 0 {
			errs = append(errs, errors.New("registration: policy allowlist without allow_peers"))
		}
		for _, p := range c.Registration.AllowPeers {
			if _, err := peer.Decode(p); err != nil {
				errs = append(errs, fmt.Errorf("registration: allow_peers %q: %w", p, err))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("registration: policy %q (want open, invite or allowlist)", c.Registration.Policy))
	}
	if c.Registration.Rate < 0 || c.Registration.Burst < 0 {
		errs = append(errs, errors.New("registration: rate and burst must be ≥ 0"))
	}
	m := c.Mailbox
	if m.MaxEnvelopeBytes <= 0 || m.MaxEnvelopeBytes > maxEnvelopeWire {
		errs = append(errs, fmt.Errorf("mailbox: max_envelope_bytes %d out of 1..%d", m.MaxEnvelopeBytes, maxEnvelopeWire))
	}
	if m.MaxBytes < 0 || m.MaxMessages < 0 || m.TTL <= 0 || m.PurgeInterval <= 0 || m.StreamTimeout <= 0 {
		errs = append(errs, errors.New("mailbox: max_bytes, max_messages must be ≥ 0; ttl, purge_interval, stream_timeout > 0"))
	}
	if m.PeerRate < 0 || m.MailboxRate < 0 || m.PeerBurst < 0 || m.MailboxBurst < 0 || m.MaxWatchers < 1 {
		errs = append(errs, errors.New("mailbox: rates and bursts must be ≥ 0, max_watchers ≥ 1"))
	}
	if m.MaxRecipients < 1 || m.MaxRecipients > relaywire.MaxRecipients {
		errs = append(errs, fmt.Errorf("mailbox: max_recipients %d out of 1..%d", m.MaxRecipients, relaywire.MaxRecipients))
	}
	if c.Prekeys.MaxOneTime < 0 || c.Prekeys.BundleRate < 0 || c.Prekeys.BundleBurst < 0 {
		errs = append(errs, errors.New("prekeys: limits must be ≥ 0"))
	}
	r := c.Resources
	if r.MaxConns <= 0 || r.MaxInboundConns <= 0 || r.ConnsPerPeer <= 0 || r.MaxStreams <= 0 ||
		r.StreamsPerPeer <= 0 || r.MemoryBytes <= 0 || r.FDs <= 0 || r.ConnLowWater <= 0 ||
		r.ConnHighWater < r.ConnLowWater || r.ConnsPerIPv4 <= 0 || r.ConnsPerIPv6 <= 0 {
		errs = append(errs, errors.New("resources: every limit must be > 0 and conn_high_water ≥ conn_low_water"))
	}
	if ci := c.Circuit; ci.Enabled && (ci.MaxReservations <= 0 || ci.MaxCircuits <= 0 || ci.MaxReservationsPerIP <= 0 ||
		ci.ReservationTTL <= 0 || ci.Duration <= 0 || ci.DataBytes <= 0) {
		errs = append(errs, errors.New("circuit: every limit must be > 0"))
	}
	if err := c.Blobs.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Push != nil {
		if err := c.Push.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Cluster != nil {
		if err := c.Cluster.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
