package outbox

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// SentHistory is how many sent contents per contact are kept for resend requests.
const SentHistory = 1024

// MaxSessionResets bounds how many new sessions one content is encrypted again under when
// the receiver answers that it could not decrypt it; then it fails with a reason.
const MaxSessionResets = 3

// Entry is one content waiting for the receiving node's acknowledgement (ob/ records).
type Entry struct {
	Seq     uint64 `json:"seq"`     // content seq
	Content []byte `json:"content"` // wire.Content JSON
	MsgID   string `json:"msg_id"`  // message whose status this drives, or ""
	Created int64  `json:"created"` // ms
	// Set once, when encrypted: the same bytes are resent until acknowledged.
	EnvID   []byte `json:"env_id,omitempty"`
	Initial []byte `json:"initial,omitempty"`
	Cipher  []byte `json:"cipher,omitempty"`
	// Resets counts the new sessions this entry was encrypted again under because the
	// receiver could not decrypt it (bounded by MaxSessionResets).
	Resets int `json:"resets,omitempty"`
	// Expires is when the content expires (Unix ms; 0 none): a disappearing message,
	// whose mailbox deposits carry it (ExpiringMailbox).
	Expires int64 `json:"expires,omitempty"`
	// Sealed: Content is sealed under the bucket key of Expires (sealed.go), with
	// SentKey(contact, Seq) as associated data, as is the resend history's copy.
	Sealed bool `json:"sealed,omitempty"`
	// CipherSealed: Cipher, the ratchet ciphertext of a Sealed content, is sealed too, under
	// the same bucket (sealed.go): an older version of the session record in Badger's value
	// log must not open it once the content expired.
	CipherSealed bool `json:"cipher_sealed,omitempty"`
}

// Contact is what the outbox reads of a contact and, in Enqueue and Requeue, advances: the
// caller loads it from its contact record and saves SendSeq and OutSeq back in the same
// transaction.
type Contact struct {
	ID      string
	SendSeq uint64 // last content seq assigned
	OutSeq  uint64 // last outbox key used
	// Initial is our PQXDH initial message while the contact has not answered the session.
	Initial []byte
	// Identity (identity.PublicIdentity wire form) and Relays (full multiaddrs) address
	// mailbox deposits; Blocked contacts get none.
	Identity []byte
	Relays   []string
	Blocked  bool
	// Sealer, when set, seals disappearing contents at rest (Enqueue) and opens them
	// (Requeue); nil stores them sealed by the store only.
	Sealer Sealer
}

// KeyPrefix is the prefix of contact cid's outbox entries.
func KeyPrefix(cid string) []byte { return []byte("ob/" + cid + "/") }

// Key is the key of contact cid's outbox entry n.
func Key(cid string, n uint64) []byte { return binary.BigEndian.AppendUint64(KeyPrefix(cid), n) }

// SentPrefix is the prefix of contact cid's resend history.
func SentPrefix(cid string) []byte { return []byte("sh/" + cid + "/") }

// SentKey is the key of the content with seq sent to contact cid.
func SentKey(cid string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(SentPrefix(cid), seq)
}

var allPrefix = []byte("ob/")

// Enqueue assigns content contact c's next sequence number, stores it in the outbox and the
// resend history (dropping what falls out of it) with created (ms) as its age. The caller
// saves c and schedules delivery (Queue.Kick) once the transaction commits.
//
// When s0, the contact's current session as the caller holds it, is not nil, Enqueue also
// encrypts the content at once (the caller saves s0 after), so that the worker need not
// commit a transaction of its own to encrypt it; it does so only while the outbox's ratchet
// order is its queue order: when the last entry queued before still waits for the worker
// to encrypt it, so does this one. It reports whether it used s0.
func Enqueue(tx *store.Tx, c *Contact, content *wire.Content, msgID string, created int64, s0 *ratchet.State) (sealed bool, err error) {
	c.SendSeq++
	content.Seq = c.SendSeq
	b, err := content.Marshal()
	if err != nil {
		return false, err
	}
	e := Entry{Seq: content.Seq, Content: b, MsgID: msgID, Created: created, Expires: ExpiryOf(content)}
	if s0 != nil {
		if sealed, err = Encrypted(tx, c.ID, c.OutSeq); err != nil {
			return false, err
		}
		if sealed {
			if err := Seal(s0, &e, nil, c.Initial); err != nil {
				return false, err
			}
		}
	}
	if err := sealContent(tx, c.Sealer, c.ID, &e); err != nil {
		return false, err
	}
	if err := SealCipher(tx, c.Sealer, c.ID, &e); err != nil {
		return false, err
	}
	c.OutSeq++
	if err := store.PutJSON(tx, Key(c.ID, c.OutSeq), &e); err != nil {
		return false, err
	}
	if err := tx.Set(SentKey(c.ID, content.Seq), e.Content); err != nil {
		return false, err
	}
	if content.Seq > SentHistory {
		if err := tx.Delete(SentKey(c.ID, content.Seq-SentHistory)); err != nil {
			return false, err
		}
	}
	return sealed, nil
}

// Requeue queues again, for contact c, the contents with seq from to to that the resend
// history still holds (a resend request), unencrypted, as new outbox entries; c.OutSeq
// advances. It returns how many it queued; the caller saves c and kicks the worker.
func Requeue(tx *store.Tx, c *Contact, from, to uint64, created int64) (int, error) {
	n := 0
	for seq := from; seq <= to && seq >= from; seq++ {
		raw, err := tx.Get(SentKey(c.ID, seq))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		plain, sealed, err := openSent(c.Sealer, c.ID, seq, raw)
		if errors.Is(err, ErrGone) {
			continue // a disappearing content past its expiry
		}
		if err != nil {
			return n, err
		}
		var exp int64
		if ct, err := wire.ParseContent(plain); err == nil {
			exp = ExpiryOf(ct)
		}
		c.OutSeq++
		if err := store.PutJSON(tx, Key(c.ID, c.OutSeq), &Entry{Seq: seq, Content: raw, Created: created, Expires: exp, Sealed: sealed}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Encrypted reports whether every entry in contact cid's outbox has its ciphertext, given
// outSeq, the last outbox key used. The worker encrypts entries in queue order (and drops
// expired ones in that order), so it is enough to look at the last one queued: if it is
// gone, it was sent or dropped, and so was everything before it. (A reverse scan would also
// step over every deleted entry.)
func Encrypted(tx *store.Tx, cid string, outSeq uint64) (bool, error) {
	var e Entry
	found, err := store.GetJSON(tx, Key(cid, outSeq), &e)
	return !found || e.Cipher != nil, err
}

// Seal encrypts an outbox entry with session s0, under envelope id env (nil: a new random
// one), and attaches initial, our PQXDH initial message, while the contact has not answered
// the session.
// A sealed entry (Entry.Sealed) is SealFrom's.
func Seal(s0 *ratchet.State, e *Entry, env, initial []byte) error {
	if e.Sealed {
		return fmt.Errorf("outbox: entry %d is sealed at rest: encrypt it with SealFrom", e.Seq)
	}
	return encrypt(s0, e, e.Content, env, initial)
}

func encrypt(s0 *ratchet.State, e *Entry, plain, env, initial []byte) error {
	ct, err := s0.Encrypt(plain)
	if err != nil {
		return err
	}
	if env == nil {
		env = make([]byte, wire.IDSize)
		rand.Read(env)
	}
	e.Cipher, e.EnvID, e.Initial, e.CipherSealed = ct, env, nil, false
	if initial != nil && !s0.HasReceived() {
		e.Initial = initial
	}
	return nil
}

// Item is an outbox entry loaded for sending.
type Item struct {
	Key   []byte
	Entry Entry
}

// Load returns up to n of contact cid's outbox entries after cursor (nil: from the first),
// in queue order.
func Load(tx *store.Tx, cid string, cursor []byte, n int) ([]Item, error) {
	var out []Item
	opt := store.IterOptions{Prefix: KeyPrefix(cid)}
	if cursor != nil {
		opt.Start = cursor
	}
	err := tx.Iterate(opt, func(k, v []byte) (bool, error) {
		if cursor != nil && bytes.Equal(k, cursor) {
			return true, nil
		}
		it := Item{Key: k}
		if err := json.Unmarshal(v, &it.Entry); err != nil {
			return false, err
		}
		out = append(out, it)
		return len(out) < n, nil
	})
	return out, err
}

// Empty reports whether nothing waits in contact cid's outbox.
func Empty(tx *store.Tx, cid string) (bool, error) {
	empty := true
	err := tx.Iterate(store.IterOptions{Prefix: KeyPrefix(cid), KeysOnly: true}, func(_, _ []byte) (bool, error) {
		empty = false
		return false, nil
	})
	return empty, err
}

// Len counts the contents waiting for delivery to all contacts.
func Len(tx *store.Tx) (int, error) {
	n := 0
	err := tx.Iterate(store.IterOptions{Prefix: allPrefix, KeysOnly: true}, func(_, _ []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}

// Waiting returns the ids of the contacts with contents waiting for delivery.
func Waiting(tx *store.Tx) ([]string, error) {
	var out []string
	last := ""
	err := tx.Iterate(store.IterOptions{Prefix: allPrefix, KeysOnly: true}, func(k, _ []byte) (bool, error) {
		rest := string(k[len(allPrefix):])
		if len(rest) > 9 {
			cid := rest[:len(rest)-9]
			if cid != last {
				out = append(out, cid)
				last = cid
			}
		}
		return true, nil
	})
	return out, err
}

// ClearCiphers clears the ciphertext of every entry in contact cid's outbox: it is all
// encrypted again, in order, under the next session.
func ClearCiphers(tx *store.Tx, cid string) error {
	var es []Item
	err := tx.Iterate(store.IterOptions{Prefix: KeyPrefix(cid)}, func(k, v []byte) (bool, error) {
		var it Item
		if err := json.Unmarshal(v, &it.Entry); err != nil {
			return false, err
		}
		if it.Entry.Cipher != nil {
			it.Key = k
			es = append(es, it)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, it := range es {
		it.Entry.Cipher, it.Entry.EnvID, it.Entry.Initial, it.Entry.CipherSealed = nil, nil, nil, false
		if err := store.PutJSON(tx, it.Key, &it.Entry); err != nil {
			return err
		}
	}
	return nil
}

// ResetSession sets contact cid's current session aside (kept as the previous one, to
// decrypt what the contact sent on it) so that the next delivery starts a new one, drops
// our initial message for it (contacts.ForgetInitial), and clears the ciphertext of
// everything in the outbox: it is all encrypted again, in order, under the new session.
func ResetSession(tx *store.Tx, ratchets *sessions.Cache, contacts Contacts, cid string) error {
	if _, err := contacts.Contact(tx, cid); err != nil {
		return err
	}
	s0, err := ratchets.Load(tx, cid, sessions.Current)
	if err != nil {
		return err
	}
	if s0 != nil {
		if err := ratchets.Save(tx, cid, sessions.Previous, s0); err != nil {
			return err
		}
		if err := sessions.Delete(tx, cid, sessions.Current); err != nil {
			return err
		}
	}
	if err := ClearCiphers(tx, cid); err != nil {
		return err
	}
	return contacts.ForgetInitial(tx, cid)
}

// ExpiryOf is when content expires (Unix ms): a text under a disappearing-message timer
// expires its timer after it was sent, and so do an edit and a reaction of a disappearing
// message, which carry its timer (never later than their target: it was sent, or read,
// before them); anything else never (0).
func ExpiryOf(content *wire.Content) int64 {
	switch {
	case content.Expire == 0:
		return 0
	case content.Kind != wire.KindText && content.Kind != wire.KindEdit && content.Kind != wire.KindReaction:
		return 0
	}
	ts, err := hlc.Parse(content.TS)
	if err != nil {
		return 0
	}
	return ts.Wall + int64(content.Expire)*1000
}
