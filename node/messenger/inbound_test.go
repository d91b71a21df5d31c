package messenger

import (
	"testing"

	"github.com/petrel-chat/petrel/node/wire"
)

// TestEveryContentKindHasAHandler: every kind node/wire accepts from a contact reaches a
// handler; one left out of registerKinds would be acknowledged and silently ignored.
func TestEveryContentKindHasAHandler(t *testing.T) {
	t.Parallel()
	kinds := testMessenger(t, "kinds").rx.Kinds
	for _, k := range []string{
		wire.KindText, wire.KindReceipt, wire.KindEdit, wire.KindDelete, wire.KindReaction, wire.KindResend, wire.KindDisappear,
		wire.KindGroupOps, wire.KindGroupSync, wire.KindGroupKey, wire.KindGroupMsg, wire.KindGroupResend, wire.KindGroupReceipt,
	} {
		if !kinds.Handles(k) {
			t.Errorf("no handler for %q", k)
		}
	}
}
