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

// TestContactsCannotSendSync: what our own devices sync (sent messages, settings, mutes,
// receipts, a device's addresses) is taken only from our own devices' channels: a contact
// that sends a sync content reaches no handler (it is acknowledged and ignored), while the
// table of our own devices handles it.
func TestContactsCannotSendSync(t *testing.T) {
	t.Parallel()
	m := testMessenger(t, "sync")
	if m.rx.Kinds.Handles(wire.KindSync) {
		t.Fatal("a contact's sync content has a handler")
	}
	if !m.rx.OwnKinds.Handles(wire.KindSync) || !m.rx.OwnKinds.Handles(wire.KindDevices) {
		t.Fatal("our own devices' sync or devices content has no handler")
	}
}
