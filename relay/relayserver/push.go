package relayserver

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/pushbridge/apns"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/fcm"
	"github.com/petrel-chat/petrel/pushbridge/unifiedpush"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"github.com/prometheus/client_golang/prometheus"
)

// servicePush is the resource-manager service of the push protocol.
const servicePush = "petrel.push"

// pushService is the relay's push bridge: its key, the senders, the coalescing bridge and
// the registry the bridge reads (the store's sealed registrations, opened with the key).
type pushService struct {
	cfg    PushConfig
	key    *identity.Identity
	store  Store
	log    *slog.Logger
	ctx    func() context.Context
	bridge *bridge.Bridge

	mu    sync.Mutex
	cache map[[32]byte]bridge.Target // sealed registration hash → opened target
}

// newPushService loads (or creates) the bridge key and the VAPID key under dataDir and
// builds the senders the configuration enables.
func newPushService(cfg PushConfig, dataDir string, store Store, reg prometheus.Registerer, log *slog.Logger, ctx func() context.Context) (*pushService, error) {
	cfg = cfg.withDefaults()
	dir := filepath.Join(dataDir, "push")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	key, err := loadOrCreateBridgeKey(filepath.Join(dir, "bridge.key"))
	if err != nil {
		return nil, err
	}
	vapidPath := cfg.VAPIDKeyFile
	if vapidPath == "" {
		vapidPath = filepath.Join(dir, "vapid.json")
	}
	vapid, err := webpush.LoadOrCreateVAPID(vapidPath)
	if err != nil {
		return nil, err
	}
	wp := webpush.Sender{VAPID: vapid, Subject: cfg.VAPIDSubject,
		Client: bridge.GuardedClient(cfg.AllowPrivateEndpoints, 30*time.Second), AllowPrivate: cfg.AllowPrivateEndpoints}
	senders := map[string]bridge.Sender{bridge.KindWebPush: &wp, bridge.KindUnifiedPush: unifiedpush.New(wp)}
	if a := cfg.APNs; a != nil {
		p8, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("push.apns: %w", err)
		}
		ac := apns.Config{KeyP8: p8, KeyID: a.KeyID, TeamID: a.TeamID, Host: a.Host}
		if ac.Host == "" && a.Sandbox {
			ac.Host = apns.HostSandbox
		}
		if a.CAFile != "" {
			pem, err := os.ReadFile(a.CAFile)
			if err != nil {
				return nil, fmt.Errorf("push.apns: %w", err)
			}
			ac.RootCAs = x509.NewCertPool()
			ac.RootCAs.AppendCertsFromPEM(pem)
		}
		s, err := apns.New(ac)
		if err != nil {
			return nil, err
		}
		senders[bridge.KindAPNs] = s
	}
	if f := cfg.FCM; f != nil {
		sa, err := os.ReadFile(f.ServiceAccountFile)
		if err != nil {
			return nil, fmt.Errorf("push.fcm: %w", err)
		}
		s, err := fcm.New(fcm.Config{ServiceAccountJSON: sa, Endpoint: f.Endpoint})
		if err != nil {
			return nil, err
		}
		senders[bridge.KindFCM] = s
	}
	p := &pushService{cfg: cfg, key: key, store: store, log: log, ctx: ctx, cache: map[[32]byte]bridge.Target{}}
	p.bridge, err = bridge.New(bridge.Config{
		Senders: senders, Registry: p, Metrics: bridge.NewMetrics(reg), Logger: log,
		MinInterval: time.Duration(cfg.MinInterval),
	})
	if err != nil {
		return nil, err
	}
	kinds := []string{}
	for k := range senders {
		kinds = append(kinds, k)
	}
	log.Info("push bridge on", "kinds", kinds, "min_interval", time.Duration(cfg.MinInterval), "allow_private_endpoints", cfg.AllowPrivateEndpoints)
	return p, nil
}

// loadOrCreateBridgeKey reads the bridge's identity (crypto/identity, 0600), or makes one.
func loadOrCreateBridgeKey(path string) (*identity.Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id, err := identity.Generate()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, id.Marshal(), 0o600); err != nil {
			return nil, fmt.Errorf("push: bridge key: %w", err)
		}
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("push: bridge key: %w", err)
	}
	id, err := identity.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("push: bridge key %s: %w", path, err)
	}
	return id, nil
}

// kindNames maps the wire kinds to the bridge's.
var kindNames = map[byte]string{
	relaywire.PushKindWebPush: bridge.KindWebPush, relaywire.PushKindUnifiedPush: bridge.KindUnifiedPush,
	relaywire.PushKindAPNs: bridge.KindAPNs, relaywire.PushKindFCM: bridge.KindFCM,
}

// errRefused is a registration the bridge will not serve; its text goes to the owner.
type errRefused struct{ msg string }

func (e errRefused) Error() string { return e.msg }

// open opens a sealed registration of owner (mailbox mb) and checks it can be served: it
// must be sealed to this bridge, for this mailbox, by the owner itself (so nobody can plant
// someone else's registration), of a kind this relay sends, to an endpoint it may contact.
func (p *pushService) open(mb []byte, owner *identity.PublicIdentity, sealedReg []byte) (bridge.Target, error) {
	h, err := sealed.ParseHeader(sealedReg)
	if err != nil || !bytes.Equal(h.Mailbox, mb) {
		return bridge.Target{}, errRefused{"not a sealed registration for this mailbox"}
	}
	o, err := sealed.OpenFor(sealedReg, p.key)
	if err != nil {
		return bridge.Target{}, errRefused{"not sealed to this relay's push bridge key"}
	}
	if owner != nil && !o.From(owner) {
		return bridge.Target{}, errRefused{"sealed by another identity than the mailbox owner"}
	}
	r, err := relaywire.ParsePushRegistration(o.Payload)
	if err != nil {
		return bridge.Target{}, errRefused{"malformed registration"}
	}
	t := bridge.Target{Owner: string(mb), Kind: kindNames[r.Kind], P256dh: r.P256dh, Auth: r.Auth, Topic: r.Topic}
	switch r.Kind {
	case relaywire.PushKindWebPush, relaywire.PushKindUnifiedPush:
		t.Endpoint = r.Address
		if _, err := bridge.CheckEndpoint(r.Address, p.cfg.AllowPrivateEndpoints); err != nil {
			return t, errRefused{err.Error()}
		}
		if _, err := ecdh.P256().NewPublicKey(r.P256dh); err != nil {
			return t, errRefused{"p256dh is not a P-256 public key"}
		}
	case relaywire.PushKindAPNs:
		t.Token = r.Address
		if !apns.ValidToken(r.Address) {
			return t, errRefused{"not an APNs device token (hex)"}
		}
	case relaywire.PushKindFCM:
		t.Token = r.Address
	}
	if p.cfg.APNs == nil && t.Kind == bridge.KindAPNs || p.cfg.FCM == nil && t.Kind == bridge.KindFCM {
		return t, errRefused{"this relay's push bridge has no " + t.Kind + " credentials"}
	}
	return t, nil
}

// Targets implements bridge.Registry: the owner's active registrations, opened (and cached).
func (p *pushService) Targets(mb []byte) ([]bridge.Target, time.Time, error) {
	recs, err := p.store.Pushes(mb)
	if err != nil || len(recs) == 0 {
		return nil, time.Time{}, err
	}
	dnd, err := p.store.PushDND(mb)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []bridge.Target
	for _, r := range recs {
		if r.Dead {
			continue
		}
		h := sha256.Sum256(append(append([]byte(nil), mb...), r.Sealed...))
		p.mu.Lock()
		t, ok := p.cache[h]
		p.mu.Unlock()
		if !ok {
			// Checked against the owner when stored; opened again after a restart.
			if t, err = p.open(mb, nil, r.Sealed); err != nil {
				// Sealed to a bridge key this relay no longer has, or for a kind it no
				// longer serves: the owner sees it dead and registers again.
				p.log.Warn("stored push registration no longer opens", "err", err)
				p.MarkDead(string(mb), string(r.ID[:]), "the relay's push bridge can no longer use it: "+err.Error())
				continue
			}
			p.mu.Lock()
			if len(p.cache) > 100_000 {
				clear(p.cache)
			}
			p.cache[h] = t
			p.mu.Unlock()
		}
		t.ID = string(r.ID[:])
		out = append(out, t)
	}
	return out, dnd, nil
}

// MarkDead implements bridge.Registry.
func (p *pushService) MarkDead(owner, id, reason string) {
	var rid [relaywire.PushRegistrationIDSize]byte
	copy(rid[:], id)
	if err := p.store.MarkPushDead(p.ctx(), []byte(owner), rid, reason); err != nil {
		p.log.Error("marking a push registration dead failed", "err", err)
	}
}
