package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/petrel-chat/petrel/node/localapi"
	"github.com/petrel-chat/petrel/node/store"
)

// keyAPISessions holds the web UI's sessions ([]localapi.Session as JSON: hashes, never the
// cookies), next to the token in keyAPIToken.
var keyAPISessions = []byte("cfg/apisessions")

// apiSessions reads the stored web UI sessions (none before the first login).
func (n *Node) apiSessions() ([]localapi.Session, error) {
	var out []localapi.Session
	err := n.st.View(func(tx *store.Tx) error {
		b, err := tx.Get(keyAPISessions)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("node: api sessions: %w", err)
	}
	return out, nil
}

// saveAPIAuth is the API's localapi.Config.SaveAuth: it stores the token and the sessions in
// one transaction and, once the node has written api.json, rewrites it with the token.
func (n *Node) saveAPIAuth(ctx context.Context, a localapi.Auth) error {
	sess, err := json.Marshal(a.Sessions)
	if err != nil {
		return fmt.Errorf("node: api sessions: %w", err)
	}
	n.apiMu.Lock()
	defer n.apiMu.Unlock()
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Set(keyAPIToken, []byte(a.Token)); err != nil {
			return err
		}
		return tx.Set(keyAPISessions, sess)
	})
	if err != nil {
		return fmt.Errorf("node: save api credentials: %w", err)
	}
	n.token = a.Token
	if n.apiInfo != nil && n.apiInfo.Token != a.Token {
		n.apiInfo.Token = a.Token
		if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, "api.json"), *n.apiInfo, 0o600); err != nil {
			return fmt.Errorf("node: the new token is in effect but api.json still has the old one: %w", err)
		}
	}
	return nil
}
