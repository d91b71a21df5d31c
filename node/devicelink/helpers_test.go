package devicelink

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

// newHost starts a real libp2p host on loopback.
func newHost(t testing.TB) host.Host {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2phost.New(p2phost.Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, UserAgent: "petrel/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// accountDevices adds devices to the account's signed list with node/devices, in the
// primary's store, as the messenger does (without publishing the list to contacts).
type accountDevices struct {
	st      *store.Store
	account *identity.Identity
	self    wire.Device

	mu    sync.Mutex
	adds  int
	fails bool
	// other, when set, is added instead of the device asked for (a primary whose list does
	// not list the device it welcomes).
	other *wire.Device
}

func newAccountDevices(st *store.Store, account *identity.Identity, primary host.Host) *accountDevices {
	return &accountDevices{st: st, account: account, self: wire.Device{PeerID: primary.ID().String(), Name: "primary"}}
}

func (a *accountDevices) AddDevice(ctx context.Context, d wire.Device) (*wire.DeviceList, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fails {
		return nil, fmt.Errorf("test: AddDevice fails")
	}
	if a.other != nil {
		d = *a.other
	}
	var l *wire.DeviceList
	err := a.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		l, _, err = devices.AddDevice(tx, a.account, a.self, d, time.Now().UnixMilli())
		return err
	})
	if err == nil {
		a.adds++
	}
	return l, err
}

func (a *accountDevices) added() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.adds
}

// primary is an account's first device serving the link protocol.
type primary struct {
	h       host.Host
	st      *store.Store
	account *identity.Identity
	devs    *accountDevices
	srv     *Server
	clock   *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startPrimary(t testing.TB) *primary {
	t.Helper()
	p := &primary{h: newHost(t), st: storetest.Open(t), clock: &clock{t: time.Now()}}
	var err error
	if p.account, err = identity.Generate(); err != nil {
		t.Fatal(err)
	}
	p.devs = newAccountDevices(p.st, p.account, p.h)
	p.srv, err = NewServer(ServerConfig{Store: p.st, Account: p.account, Devices: p.devs, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	stop := p.srv.Serve(p.h)
	t.Cleanup(stop)
	return p
}

func (p *primary) issue(t testing.TB) *Link {
	t.Helper()
	var addrs []string
	for _, a := range p.h.Addrs() {
		addrs = append(addrs, a.String())
	}
	l, err := p.srv.Issue(context.Background(), p.h.ID(), addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newDevice is a device about to be linked: its own host, store and device key.
type newDevice struct {
	h   host.Host
	st  *store.Store
	key *identity.Identity
}

func startDevice(t testing.TB) *newDevice {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &newDevice{h: newHost(t), st: storetest.Open(t), key: k}
}

func (d *newDevice) join(l *Link, opts JoinOptions) (*Joined, error) {
	return Join(context.Background(), d.h, d.st, l, Device{Key: d.key, Name: "laptop"}, opts)
}

// records returns every record of st (this package's own dl/ ones aside).
func records(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{}, func(k, v []byte) (bool, error) {
			if string(k[:min(3, len(k))]) != "dl/" {
				out[string(k)] = string(v)
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
