package clusterstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// keyFile holds the key the embedded server encrypts its JetStream files with.
const keyFile = "jetstream.key"

// startEmbedded runs the NATS server with JetStream inside this process: a cluster node
// named c.ServerName, routes to c.Routes, files under dir/jetstream encrypted with
// ChaCha20-Poly1305 under a key kept in dir (created on first start, mode 0600).
func startEmbedded(c Config, dir string, log *slog.Logger) (*server.Server, string, error) {
	key, err := loadOrCreateKey(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, "", err
	}
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return nil, "", err
	}
	// The client port listens on loopback only, behind a token made fresh at each start:
	// the relay itself connects in process.
	token := c.Token
	if token == "" || c.ClientListen == "" {
		raw := make([]byte, 24)
		rand.Read(raw)
		token = hex.EncodeToString(raw)
	}
	opts := &server.Options{
		ServerName:      c.ServerName,
		Host:            "127.0.0.1",
		Port:            server.RANDOM_PORT,
		Authorization:   token,
		JetStream:       true,
		StoreDir:        filepath.Join(dir, "jetstream"),
		JetStreamKey:    key,
		JetStreamCipher: server.ChaCha,
		SyncAlways:      c.SyncAlways,
		SyncInterval:    time.Duration(c.SyncInterval),
		NoSigs:          true,
		Cluster: server.ClusterOpts{
			Name: c.Name, Host: host, Port: port,
			// NoAdvertise keeps cluster addresses out of what clients are told. It does
			// not stop route gossip: a server tells its peers of each new route's
			// advertised address (Advertise, else the listen address), and a peer not yet
			// routed to that server dials it there once, whatever its configured route.
			Advertise:      c.Advertise,
			NoAdvertise:    true,
			ConnectRetries: -1,
		},
	}
	if len(c.Routes) == 0 {
		// A cluster of one (a test, or the first step of a migration): JetStream alone.
		opts.Cluster = server.ClusterOpts{}
	}
	if c.ClientListen != "" {
		h, p, err := splitHostPort(c.ClientListen)
		if err != nil {
			return nil, "", err
		}
		opts.Host, opts.Port = h, p
	}
	var user *url.Userinfo
	if c.Secret != "" {
		// Routes authenticate with the cluster's shared secret.
		opts.Cluster.Username, opts.Cluster.Password = "petrel", c.Secret
		user = url.UserPassword("petrel", c.Secret)
	}
	for _, r := range c.Routes {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: r, User: user})
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("clusterstore: nats server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log.With("engine", "nats")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, "", errors.New("clusterstore: the embedded nats server did not start within 30s")
	}
	return ns, token, nil
}

func splitHostPort(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, fmt.Errorf("clusterstore: %q: %w", a, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("clusterstore: port %q: %w", p, err)
	}
	return h, n, nil
}

// loadOrCreateKey reads the hex key in path or creates it (32 random bytes, 0600).
func loadOrCreateKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if d, derr := hex.DecodeString(k); derr != nil || len(d) != 32 {
			return "", fmt.Errorf("clusterstore: %s is not a 32-byte hex key", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("clusterstore: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	k := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("clusterstore: %w", err)
	}
	return k, nil
}

// connect opens the client connection: in process to the embedded server, else to the
// external URL with the configured credentials. It reconnects forever.
func connect(c Config, ns *server.Server, token string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("petrel-relay " + c.ServerName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := c.NATSURL
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns), nats.Token(token))
		url = ""
	}
	switch {
	case ns != nil:
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("clusterstore: connect: %w", err)
	}
	return nc, nil
}

// natsLogger sends the NATS server's logs to slog (its notices at debug level).
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(f string, a ...any) { n.l.Debug(fmt.Sprintf(f, a...)) }
func (n natsLogger) Warnf(f string, a ...any)   { n.l.Warn(fmt.Sprintf(f, a...)) }
func (n natsLogger) Fatalf(f string, a ...any)  { n.l.Error(fmt.Sprintf(f, a...)) }
func (n natsLogger) Errorf(f string, a ...any)  { n.l.Error(fmt.Sprintf(f, a...)) }
func (n natsLogger) Debugf(f string, a ...any)  { n.l.Debug(fmt.Sprintf(f, a...)) }
func (n natsLogger) Tracef(f string, a ...any)  { n.l.Debug(fmt.Sprintf(f, a...)) }
