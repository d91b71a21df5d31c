package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devicelink"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/homerelays"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/media/blobdir"
	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// The node serves linked devices (API.md §8): the link protocol and its history transfer
// through node/devicelink, the account's list through the messenger (node/devices).

// serveDeviceLinks answers /petrel/devicelink/1.0.0 on h until the returned stop is called.
func (n *Node) serveDeviceLinks(h host.Host) (stop func(), err error) {
	srv, err := devicelink.NewServer(devicelink.ServerConfig{Store: n.st, Account: n.id, Devices: n.msg,
		MediaChunks: n.mediaChunks, Open: n.openSealed, Now: n.cfg.Now, Logger: n.log.With("part", "devicelink")})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.links = srv
	n.mu.Unlock()
	return srv.Serve(h), nil
}

// runHomes runs the home relays (registration, prekeys, the mailbox drain) while this
// device is active: a device the account's primary revoked stops draining its mailboxes,
// and the rest of the node goes on serving the API (docs/API.md §8).
func (n *Node) runHomes(ctx context.Context, homes *homerelays.Relays) error {
	active, stop := n.msg.DeviceSync().WithRevocation(ctx)
	defer stop()
	if err := homes.Run(active, n.cfg.Relays); ctx.Err() == nil && active.Err() == nil {
		return err
	}
	return nil
}

// resumeHistory finishes a linked device's history transfer cut during petrel init
// --link, retrying every minute until it is complete or ctx ends. It never fails the
// node: the history is what the primary still has when it answers.
func (n *Node) resumeHistory(ctx context.Context, h host.Host) error {
	for {
		_, pending, err := devicelink.Pending(n.st)
		if err != nil || !pending {
			return nil
		}
		put, err := chunkWriter(n.cfg.DataDir)
		if err != nil {
			return nil
		}
		got, err := devicelink.Resume(ctx, h, n.st, devicelink.JoinOptions{Now: n.cfg.Now, PutChunk: put, Seal: sealWith(n.shred)})
		if err == nil {
			n.log.Info("history transfer complete", "records", got)
			return nil
		}
		if got > 0 {
			continue // progress (a relay's circuit ended): on at once
		}
		n.log.Warn("history transfer from the linking device stopped; retrying in a minute", "records", got, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Minute):
		}
	}
}

// LinkDevice is POST /v1/devices/link: a single-use link to this node, on the primary.
func (n *Node) LinkDevice(ctx context.Context) (api.DeviceLink, error) {
	n.mu.Lock()
	h, srv := n.host, n.links
	n.mu.Unlock()
	if h == nil || srv == nil {
		return api.DeviceLink{}, api.Errorf(api.ErrUnavailable, "the node is not running")
	}
	ds, err := n.msg.Devices(ctx)
	if err != nil {
		return api.DeviceLink{}, err
	}
	if i := slices.IndexFunc(ds, func(d devices.Info) bool { return d.Current }); i < 0 || !ds[i].Primary {
		return api.DeviceLink{}, api.Errorf(api.ErrForbidden, "only the account's primary device links new devices")
	}
	var addrs []string
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue // reached through the relays the link lists
		}
		addrs = append(addrs, a.String())
	}
	l, err := srv.Issue(ctx, h.ID(), addrs, n.cfg.Relays)
	if err != nil {
		return api.DeviceLink{}, err
	}
	link := l.String()
	qr, err := invite.QRSVG(link)
	if err != nil {
		return api.DeviceLink{}, err
	}
	return api.DeviceLink{Link: link, QRSVG: qr, ExpiresAt: l.Expires.UnixMilli()}, nil
}

// Devices is GET /v1/devices.
func (n *Node) Devices(ctx context.Context) (api.DeviceList, error) {
	ds, err := n.msg.Devices(ctx)
	out := api.DeviceList{Devices: make([]api.Device, 0, len(ds))}
	for _, d := range ds {
		out.Devices = append(out.Devices, api.Device{ID: d.ID, Name: d.Name, Current: d.Current, Primary: d.Primary,
			LinkedAt: d.LinkedAt, LastSeen: d.LastSeen})
	}
	return out, err
}

// RevokeDevice is DELETE /v1/devices/{id}.
func (n *Node) RevokeDevice(ctx context.Context, id string) error { return n.msg.RevokeDevice(ctx, id) }

// LinkOptions tune InitLinked; zero values are the defaults.
type LinkOptions struct {
	// Relays are the new device's home relays (as petrel run --relay will name them).
	Relays []string
	// Now is the clock (the link's expiry); nil means time.Now.
	Now func() time.Time
	// Timeout bounds each step of the link (dial, handshake, one chunk); 0: a minute.
	Timeout time.Duration
}

// ErrLinkRefused reports a link the linking device refused or that expired: nothing was
// created.
var ErrLinkRefused = errors.New("node: link refused")

// InitLinked creates a node in dir as a new device of the account that issued link: the
// encrypted store, its own device key (its cfg/identity) and libp2p key, then links it
// (node/devicelink) and receives the history. name is the device's name in the account's
// list. A malformed, expired or refused link leaves dir as it was. A history transfer cut
// after the link returns an error that says so; petrel run resumes it.
func InitLinked(ctx context.Context, dir string, passphrase []byte, name, link string, opts store.Options, lo LinkOptions) (records int, err error) {
	if lo.Now == nil {
		lo.Now = time.Now
	}
	l, err := devicelink.Parse(link)
	if err != nil {
		return 0, fmt.Errorf("%w: not a device link (%w)", ErrLinkRefused, err)
	}
	if !lo.Now().Before(l.Expires) {
		return 0, fmt.Errorf("%w: the link expired at %s; make a new one on your other device", ErrLinkRefused, l.Expires.Format(time.RFC3339))
	}
	before, err := dirEntries(dir)
	if err != nil {
		return 0, err
	}
	if err := Init(ctx, dir, passphrase, name, opts); err != nil {
		return 0, err
	}
	linked := false
	defer func() {
		if !linked {
			removeNew(dir, before) // no half store: what Init made goes
		}
	}()
	st, err := store.Open(dir, passphrase, opts)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var idb, hk []byte
	err = st.View(func(tx *store.Tx) error {
		if idb, err = tx.Get(keyIdentity); err != nil {
			return err
		}
		hk, err = tx.Get(keyP2PKey)
		return err
	})
	if err != nil {
		return 0, err
	}
	dev, err := identity.Unmarshal(idb)
	if err != nil {
		return 0, err
	}
	hkey, err := crypto.UnmarshalPrivateKey(hk)
	if err != nil {
		return 0, err
	}
	// No listener (the new device dials), and the circuit transport, for a primary reachable
	// only through its relays.
	h, err := p2phost.New(p2phost.Config{Key: hkey, ListenAddrs: []string{p2phost.ListenNone}, UserAgent: "petrel-link",
		Extra: []libp2p.Option{libp2p.EnableRelay()}})
	if err != nil {
		return 0, err
	}
	defer h.Close()
	put, err := chunkWriter(dir)
	if err != nil {
		return 0, err
	}
	shred, err := shredkeys.Open(ctx, st, shredkeys.Options{})
	if err != nil {
		return 0, err
	}
	defer shred.Close()
	jopts := devicelink.JoinOptions{Now: lo.Now, Timeout: lo.Timeout, PutChunk: put, Seal: sealWith(shred),
		Provision: func(tx *store.Tx, account *identity.PublicIdentity, list []byte) error {
			_, err := devices.Provision(tx, dev, account, list)
			return err
		}}
	relays := lo.Relays[:min(len(lo.Relays), 8)]
	j, err := devicelink.Join(ctx, h, st, l, devicelink.Device{Key: dev, Name: name, Relays: relays}, jopts)
	if j == nil {
		if errors.Is(err, devicelink.ErrRefused) || errors.Is(err, devicelink.ErrExpired) || errors.Is(err, devicelink.ErrBadPrimary) {
			return 0, fmt.Errorf("%w: %w", ErrLinkRefused, err)
		}
		return 0, err
	}
	linked = true // from here the store is the account's device
	records = j.Records
	// A cut transfer resumes at once while each try makes progress (a relay's circuit
	// carries a little of the history each time), and three times without, backing off
	// (0.25, 0.5, 1 s) so that a circuit being re-established has the time to come up.
	for idle := 0; err != nil && idle < 3 && ctx.Err() == nil; {
		var more int
		more, err = devicelink.Resume(ctx, h, st, jopts)
		records += more
		if more == 0 && err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond << idle):
			}
			idle++
		}
	}
	if err != nil {
		return records, fmt.Errorf("node: linked, but the history transfer stopped after %d records (petrel run resumes it): %w", records, err)
	}
	return records, errors.Join(shred.Close(), st.Close())
}

func dirEntries(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		out[e.Name()] = true
	}
	return out, nil
}

// removeNew removes what was created in dir since before was listed (all of dir when it
// did not exist).
func removeNew(dir string, before map[string]bool) {
	if before == nil {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !before[e.Name()] {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// mediaChunks hands the history transfer the sealed chunks of an available media id (none
// of one that is not here).
func (n *Node) mediaChunks(id string, fn func(ct []byte) error) error {
	err := n.media.SealedChunks(id, func(_ media.Hash, ct []byte) error { return fn(ct) })
	if errors.Is(err, media.ErrNotAvailable) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// chunkWriter stores the media chunks a history transfer brings in DIR/media/chunks, where
// node/media reads them, each named by its SHA-256 and durable before it returns.
func chunkWriter(dir string) (func(ct []byte) error, error) {
	blobs, err := blobdir.Open(filepath.Join(dir, "media", "chunks"), media.SealedChunkSize)
	if err != nil {
		return nil, err
	}
	return func(ct []byte) error {
		if len(ct) > media.SealedChunkSize {
			return fmt.Errorf("node: a media chunk of %d bytes", len(ct))
		}
		if err := blobs.Put(sha256.Sum256(ct), ct); err != nil {
			return err
		}
		return blobs.SyncDir()
	}, nil
}

// openSealed opens the sealed content of a disappearing message for the history transfer
// (node/history KeySealed under node/shredkeys); false once its key is destroyed.
func (n *Node) openSealed(key, sealed []byte) ([]byte, bool) {
	pt, err := n.shred.Open(sealed, key)
	return pt, err == nil
}

// sealWith seals a disappearing message's content the transfer brought under this node's
// own bucket keys, for its expiry (nil once it has expired: nothing to store).
func sealWith(k *shredkeys.Keyring) func(tx *store.Tx, key, pt []byte) ([]byte, error) {
	return func(tx *store.Tx, key, pt []byte) ([]byte, error) {
		var m history.Message
		if err := history.DecodeMessage(pt, &m); err != nil {
			return nil, fmt.Errorf("node: a sealed message from the linking device: %w", err)
		}
		var exp int64
		if m.ExpiresAt != nil {
			exp = max(*m.ExpiresAt, 1)
		}
		sealed, err := k.SealUntil(tx, exp, key, pt)
		if errors.Is(err, shredkeys.ErrExpired) {
			return nil, nil
		}
		return sealed, err
	}
}
