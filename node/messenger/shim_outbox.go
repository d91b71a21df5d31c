package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Shims for code in this package that still uses the outbox under its old names (the
// outbox is node/outbox now). To be deleted once their callers use node/outbox.

// outboxRec is an outbox entry (ob/ record).
type outboxRec = outq.Entry

// ackTimeout is how long a sender waits for acknowledgements (inbound.go's frameTimeout).
const ackTimeout = outq.AckTimeout

func kOutboxPrefix(cid string) []byte       { return outq.KeyPrefix(cid) }
func kOutbox(cid string, seq uint64) []byte { return outq.Key(cid, seq) }
func kSentPrefix(cid string) []byte         { return outq.SentPrefix(cid) }
func kSent(cid string, seq uint64) []byte   { return outq.SentKey(cid, seq) }
func (m *Messenger) resetSession(tx *store.Tx, cid string) error {
	return outq.ResetSession(tx, &m.ratchets, outboxContacts{}, cid)
}

// sealEntry encrypts an outbox entry with session s0 (outbox.Seal).
func sealEntry(c *contactRec, s0 *ratchet.State, rec *outboxRec, env []byte) error {
	return outq.Seal(s0, rec, env, c.Initial)
}

// The old outbox type, kept only so that relays.go's depositAll and relayFallback (node/
// outbox's deposit fallback now; nothing calls them) still compile.
type outbox struct {
	m   *Messenger
	ctx context.Context
}

type worker struct{ cid string }

type pending struct {
	key []byte
	rec outboxRec
}

type sentEntry struct {
	key   []byte
	msgID string
}

const window = 256

var (
	_ = (*outbox).depositAll
	_ = (*outbox).relayFallback
)

func (o *outbox) contact(cid string) (*contactRec, error) {
	var c *contactRec
	err := o.m.st.View(func(tx *store.Tx) error {
		var err error
		c, err = loadContact(tx, cid)
		return err
	})
	return c, err
}

func (o *outbox) load(cid string, cursor []byte, n int) ([]pending, error) {
	var out []pending
	err := o.m.st.View(func(tx *store.Tx) error {
		its, err := outq.Load(tx, cid, cursor, n)
		for _, it := range its {
			out = append(out, pending{key: it.Key, rec: it.Entry})
		}
		return err
	})
	return out, err
}

func (o *outbox) queue() *outq.Queue {
	return outq.New(o.ctx, o.m.outboxConfig())
}

func (o *outbox) encrypt(ctx context.Context, cid string, batch []pending) ([]pending, error) {
	its := make([]outq.Item, len(batch))
	for i, p := range batch {
		its[i] = outq.Item{Key: p.key, Entry: p.rec}
	}
	its, err := o.queue().Encrypt(ctx, cid, its)
	out := make([]pending, len(its))
	for i, it := range its {
		out[i] = pending{key: it.Key, rec: it.Entry}
	}
	return out, err
}

func (o *outbox) applyAcks(ctx context.Context, cid string, acks []wire.Ack, inflight map[wire.ID]sentEntry, _ *[][]byte) (int, error) {
	in := make(map[wire.ID]outq.Sent, len(inflight))
	for id, e := range inflight {
		in[id] = outq.Sent{Key: e.key, MsgID: e.msgID}
	}
	n, err := o.queue().Acknowledge(ctx, cid, acks, in)
	for id := range inflight {
		if _, ok := in[id]; !ok {
			delete(inflight, id)
		}
	}
	return n, err
}
