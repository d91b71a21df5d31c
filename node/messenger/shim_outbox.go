package messenger

import (
	"github.com/petrel-chat/petrel/crypto/ratchet"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/store"
)

// Shims for code in this package that still uses the outbox under its old names (the
// outbox is node/outbox now). To be deleted once their callers use node/outbox.

// outboxRec is an outbox entry (ob/ record).
type outboxRec = outq.Entry

// ackTimeout is how long a sender waits for acknowledgements (inbound.go's frameTimeout).
const ackTimeout = outq.AckTimeout

// errOutboxGone: an outbox entry of a disappearing content that expired (outbox.ErrGone).
var errOutboxGone = outq.ErrGone

// requeue is outbox.Requeue (a resend request; disappearing contents are opened, and
// skipped once expired).
func requeue(tx *store.Tx, c *outq.Contact, from, to uint64, created int64) (int, error) {
	return outq.Requeue(tx, c, from, to, created)
}

func kOutboxPrefix(cid string) []byte       { return outq.KeyPrefix(cid) }
func kOutbox(cid string, seq uint64) []byte { return outq.Key(cid, seq) }
func kSentPrefix(cid string) []byte         { return outq.SentPrefix(cid) }
func kSent(cid string, seq uint64) []byte   { return outq.SentKey(cid, seq) }
func (m *Messenger) resetSession(tx *store.Tx, cid string) error {
	return outq.ResetSession(tx, &m.ratchets, outboxContacts{}, cid)
}

// sealEntry encrypts an outbox entry with session s0 (outbox.SealFrom: outbox.ErrGone
// for a disappearing content that expired).
func (m *Messenger) sealEntry(c *contactRec, s0 *ratchet.State, rec *outboxRec, env []byte) error {
	return outq.SealFrom(s0, rec, m.outSealer(), c.ID, env, c.Initial)
}

// outSealer is the outbox's sealer: the keyring, or none.
func (m *Messenger) outSealer() outq.Sealer {
	if m.cfg.Shred == nil {
		return nil
	}
	return m.cfg.Shred
}

// window is how many frames a /petrel/msg stream may have unacknowledged (node/outbox's
// pipeline window, which the inbox's read-ahead budget matches).
const window = outq.Window
