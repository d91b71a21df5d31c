package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/node/sessions"
)

// ensureSession starts a PQXDH session with channel cid unless one exists (sessions.Starter).
func (m *Messenger) ensureSession(ctx context.Context, cid string) error {
	return (&sessions.Starter{Store: m.st, Ratchets: &m.ratchets, Identity: m.id, Fetch: m.fetchBundle}).Start(ctx, cid)
}

// runCtx is Run's context (background before Run).
func (m *Messenger) runCtx() context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		return context.Background()
	}
	return m.ctx
}
