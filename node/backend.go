package node

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/petrel-chat/petrel/crypto/safetynum"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Me is the user's own profile and addresses (GET /v1/me).
func (n *Node) Me(ctx context.Context) (api.Me, error) {
	n.mu.Lock()
	name := n.profile.Name
	n.mu.Unlock()
	relays := append([]string{}, n.cfg.Relays...)
	var peerID string
	if h := n.hostOrNil(); h != nil {
		peerID = h.ID().String()
	}
	dev, err := n.msg.DeviceSync().Current(ctx)
	if err != nil {
		return api.Me{}, err
	}
	return api.Me{
		UserID:            string(n.msg.AccountKey().UserID()), // the account's, on every device
		Name:              name,
		PeerID:            peerID,
		Addrs:             n.addrs(),
		Relays:            relays,
		SafetyFingerprint: n.fingerprint(),
		Device:            dev,
	}, nil
}

// UpdateMe (PATCH /v1/me) changes the profile name and tells every UI.
func (n *Node) UpdateMe(ctx context.Context, p api.MePatch) (api.Me, error) {
	if p.Name == nil {
		return n.Me(ctx)
	}
	name := strings.TrimSpace(*p.Name)
	if !utf8.ValidString(name) || len(name) > MaxNameBytes {
		return api.Me{}, api.Errorf(api.ErrBadRequest, "name must be valid UTF-8 of at most %d bytes", MaxNameBytes)
	}
	if name == "" {
		// Contacts know you by it (invites and cards carry it): a name, once given, is
		// changed, not removed.
		return api.Me{}, api.Errorf(api.ErrBadRequest, "name must not be empty")
	}
	prof := profile{Name: name}
	b, err := json.Marshal(prof)
	if err != nil {
		return api.Me{}, err
	}
	n.mu.Lock()
	old := n.profile
	n.profile = prof
	n.mu.Unlock()
	me, _ := n.Me(ctx)
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Set(keyProfile, b); err != nil {
			return err
		}
		_, err := n.ev.Append(tx, api.KindMe, me)
		return err
	})
	if err != nil {
		n.mu.Lock()
		n.profile = old
		n.mu.Unlock()
		return api.Me{}, err
	}
	return me, nil
}

// Status is GET /v1/status.
func (n *Node) Status(ctx context.Context) (api.Status, error) {
	st := api.Status{Relays: []api.RelayStatus{}, UptimeS: int64(time.Since(n.start) / time.Second), Outbox: n.msg.OutboxLen()}
	if h := n.hostOrNil(); h != nil {
		st.Peers = len(h.Network().Peers())
	}
	n.mu.Lock()
	homes := n.homes
	n.mu.Unlock()
	for _, r := range n.cfg.Relays {
		st.Relays = append(st.Relays, api.RelayStatus{Addr: r, Connected: homes != nil && homes.Connected(r)})
	}
	return st, nil
}

func (n *Node) hostOrNil() host.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.host
}

// fingerprint is the node's own safety fingerprint (GET /v1/me): the half of every
// safety number that this node contributes.
func (n *Node) fingerprint() string {
	pub := n.msg.AccountKey() // the account's: the same on every device
	fp, err := safetynum.Fingerprint([]byte(pub.UserID()), pub.SigningKey())
	if err != nil {
		n.log.Error("safety fingerprint", "err", err)
		return ""
	}
	return fp
}
