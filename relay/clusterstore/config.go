package clusterstore

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is the relay config's `cluster` object (docs/OPERATIONS.md). Either Listen (and
// Routes) run the NATS server embedded in the relay process, or NATSURL names an external
// NATS cluster with JetStream enabled.
type Config struct {
	// Name is the cluster's name; every process of one cluster gives the same (embedded).
	Name string `json:"name,omitempty"`
	// Listen is this process's cluster (route) address, HOST:PORT (embedded).
	Listen string `json:"listen,omitempty"`
	// Routes are the other processes' Listen addresses (embedded).
	Routes []string `json:"routes,omitempty"`
	// Advertise is the route address, HOST:PORT, this process's peers pass on to each
	// other (NATS route gossip): a peer that learns of this process through another one,
	// before its own configured route to it is up, dials it there once (embedded; default
	// Listen). Set it when Listen is not how peers should reach this process.
	Advertise string `json:"advertise,omitempty"`
	// ServerName names this process in the cluster; it must be unique and stable across
	// restarts (default: "relay-" and Listen).
	ServerName string `json:"server_name,omitempty"`
	// Secret, shared by every process of the cluster, authenticates the routes (embedded;
	// without it anyone who reaches Listen can join the cluster: firewall it).
	Secret string `json:"secret,omitempty"`
	// ClientListen, if set, serves NATS clients on HOST:PORT with Token (embedded; default:
	// a loopback port with a fresh random token; the relay itself connects in process).
	ClientListen string `json:"client_listen,omitempty"`
	// SyncAlways fsyncs every JetStream write before it is acknowledged (embedded; default
	// false: an acknowledged deposit is on a quorum of processes and in each one's files,
	// fsynced every SyncInterval).
	SyncAlways   bool     `json:"sync_always,omitempty"`
	SyncInterval Duration `json:"sync_interval,omitempty"`

	// NATSURL is an external cluster's URL list ("nats://h1:4222,nats://h2:4222").
	NATSURL string `json:"nats_url,omitempty"`
	// Credentials for NATSURL: a .creds file (JWT and nkey), or a user and password, or a
	// token (also the token of ClientListen).
	CredsFile string `json:"creds_file,omitempty"`
	User      string `json:"user,omitempty"`
	Password  string `json:"password,omitempty"`
	Token     string `json:"token,omitempty"`

	// Replicas of every stream and bucket (default 3; 1 for a one-process test cluster).
	Replicas int `json:"replicas,omitempty"`
	// Prefix starts every stream, bucket and subject name, so several relays may share one
	// external cluster (default "petrel").
	Prefix string `json:"prefix,omitempty"`
	// Timeout bounds one JetStream request (default 5s).
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration is a time.Duration written as a Go duration string in JSON.
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

// Embedded says whether the config runs the NATS server inside the relay process.
func (c *Config) Embedded() bool { return c.NATSURL == "" }

func (c *Config) withDefaults() Config {
	d := *c
	if d.Replicas == 0 {
		d.Replicas = 3
	}
	if d.Prefix == "" {
		d.Prefix = "petrel"
	}
	if d.Timeout == 0 {
		d.Timeout = Duration(5 * time.Second)
	}
	if d.ServerName == "" {
		d.ServerName = "relay-" + strings.NewReplacer(":", "-", "[", "", "]", "").Replace(d.Listen)
	}
	if d.SyncInterval == 0 {
		d.SyncInterval = Duration(2 * time.Minute)
	}
	return d
}

// Validate checks the config for mistakes an operator would want to hear about.
func (c *Config) Validate() error {
	var errs []error
	if c.Embedded() {
		if c.Name == "" {
			errs = append(errs, errors.New("cluster: name is required with listen"))
		}
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("cluster: listen %q: want HOST:PORT (or give nats_url)", c.Listen))
		}
		if len(c.Routes) == 0 && c.Replicas != 1 {
			errs = append(errs, errors.New("cluster: no routes: a cluster of one process needs replicas 1"))
		}
		for _, r := range c.Routes {
			if _, _, err := net.SplitHostPort(r); err != nil {
				errs = append(errs, fmt.Errorf("cluster: route %q: want HOST:PORT", r))
			}
		}
		if c.Advertise != "" {
			if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
				errs = append(errs, fmt.Errorf("cluster: advertise %q: want HOST:PORT", c.Advertise))
			}
		}
		if c.ClientListen != "" {
			if _, _, err := net.SplitHostPort(c.ClientListen); err != nil {
				errs = append(errs, fmt.Errorf("cluster: client_listen %q: want HOST:PORT", c.ClientListen))
			}
		}
		if c.CredsFile != "" || c.User != "" {
			errs = append(errs, errors.New("cluster: creds_file and user go with nats_url"))
		}
		if c.ClientListen != "" && c.Token == "" {
			errs = append(errs, errors.New("cluster: client_listen needs a token"))
		}
	} else {
		if c.Listen != "" || len(c.Routes) > 0 || c.Advertise != "" {
			errs = append(errs, errors.New("cluster: give either listen and routes (embedded) or nats_url (external), not both"))
		}
		for _, u := range strings.Split(c.NATSURL, ",") {
			if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				errs = append(errs, fmt.Errorf("cluster: nats_url %q: want nats://HOST:PORT or tls://HOST:PORT", u))
			}
		}
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("cluster: replicas %d out of 1..5", c.Replicas))
	}
	for _, r := range c.Prefix {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			errs = append(errs, fmt.Errorf("cluster: prefix %q: lower-case letters and digits only", c.Prefix))
			break
		}
	}
	if c.Timeout < 0 || c.SyncInterval < 0 {
		errs = append(errs, errors.New("cluster: timeout and sync_interval must be > 0"))
	}
	return errors.Join(errs...)
}
