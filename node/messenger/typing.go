package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Typing checks a typing signal from a UI. Carrying it to the contact is part of the
// presence and typing work (issue 7); until then the node accepts and drops it, so UIs
// written against API.md need no special case.
func (m *Messenger) Typing(ctx context.Context, convID, state string) error {
	if state != "start" && state != "stop" {
		return api.Errorf(api.ErrBadRequest, `state must be "start" or "stop"`)
	}
	return m.st.View(func(tx *store.Tx) error {
		_, err := loadConv(tx, convID)
		return err
	})
}
