package inbox

import (
	"crypto/sha256"
	"encoding/json"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// What a batch learns about identities and peers: a newcomer's first message, the proof
// a decrypted message gives of its peer, the addresses a card announces.

// newcomer handles an initial message of an identity that is no contact's. Only once its
// first message has decrypted (the key exchange proves the identity) and parsed does it
// become a contact: a new one (a message request), or — when the stream's peer is a
// contact's proven peer and the message's card names that very peer — that contact's
// identity change, with the warning. The libp2p peer key proves the peer id; the card,
// inside a message only the new identity could encrypt, is that identity's word that the
// peer is its own.
func (b *Batch) newcomer(d *wire.Deliver, pub *identity.PublicIdentity) (wire.AckStatus, error) {
	st, used, pt, err := b.resp.Respond(b.tx, d.Initial, d.Message)
	if err != nil {
		return 0, err
	}
	if st == nil {
		return wire.AckUndecryptable, nil
	}
	content, err := wire.ParseContent(pt)
	if err != nil {
		b.h.Log.Info("malformed content from a new identity", "err", err)
		return wire.AckRefused, nil
	}
	if content.Card != nil && content.Card.Invite != "" {
		// A request that names an invite must name a live one of ours.
		live, err := b.h.InviteLive(b.tx, content.Card.Invite)
		if err != nil {
			return 0, err
		}
		if !live {
			b.h.Log.Info("refused a request under a revoked, expired or unknown invite")
			return wire.AckRefused, nil
		}
	}
	// A device of a contact (or of ours) that the card's signed list names: its channel
	// takes the message; a key no verified list names is a stranger's.
	if ch, err := b.listedDevice(content.Card, pub); err != nil {
		return 0, err
	} else if ch != "" {
		if err := b.flush(); err != nil {
			return 0, err
		}
		b.c, b.ss, b.conv = nil, Sessions{}, nil
		if err := b.useContact(ch); err != nil {
			return 0, err
		}
		if b.remote != "" && b.c.PeerID != b.remote.String() {
			b.h.Log.Info("a peer sent as a device it is not listed as", "channel", ch)
			return wire.AckUndecryptable, nil
		}
		sum := sha256.Sum256(d.Initial)
		if err := b.adopt(st, used, sum[:]); err != nil {
			return 0, err
		}
		if err := MarkSeen(b.tx, ch, d.ID); err != nil {
			return 0, err
		}
		return wire.AckStored, b.apply(content)
	}
	if err := b.flush(); err != nil {
		return 0, err
	}
	b.c = nil
	tx := b.tx
	claims := b.remote != "" && content.Card != nil && content.Card.PeerID == b.remote.String()
	var owner *sessions.Contact
	if claims {
		oid, err := contacts.ByPeer(tx, b.remote.String())
		if err != nil {
			return 0, err
		}
		if oid != "" {
			if owner, err = sessions.LoadContact(tx, oid); err != nil {
				return 0, err
			}
		}
	}
	if owner != nil && owner.PeerProven && owner.PeerID == b.remote.String() {
		if err := b.h.IdentityChanged(tx, owner, pub); err != nil {
			return 0, err
		}
		if err := b.useContact(owner.ID); err != nil {
			return 0, err
		}
		b.convDirty = true
	} else {
		pid := ""
		if claims {
			pid = b.remote.String()
			if owner != nil {
				// The peer was only claimed for that contact (by a link, a card): its key
				// holder just proved it is this identity's.
				b.h.Log.Warn("a peer claimed for a contact proved another identity's", "contact", owner.ID)
				if err := contacts.SetPeer(tx, &owner.Record, "", false); err != nil {
					return 0, err
				}
				if err := sessions.SaveContact(tx, owner); err != nil {
					return 0, err
				}
			}
		}
		c, err := b.h.NewContact(tx, pub, pid, api.RequestPending)
		if err != nil {
			return 0, err
		}
		if err := b.useContact(c.ID); err != nil {
			return 0, err
		}
		b.c.PeerProven = claims
		b.contactEvt, b.convDirty = true, true
	}
	sum := sha256.Sum256(d.Initial)
	if err := b.adopt(st, used, sum[:]); err != nil {
		return 0, err
	}
	if err := MarkSeen(tx, b.c.ID, d.ID); err != nil {
		return 0, err
	}
	return wire.AckStored, b.apply(content)
}

// prove records what a message that just decrypted under b.c's session proves about its
// peer: that the stream's peer is the contact's. Over the contact's own peer, the peer is
// proven; over another peer, the contact moves there only when its card names that peer
// and no other contact has proven it.
func (b *Batch) prove(card *wire.Card) error {
	if b.remote == "" || b.c.Chan != "" {
		return nil // a device's peer is its account's signed list's word, checked in take
	}
	c, r := b.c, b.remote.String()
	owner, err := contacts.ByPeer(b.tx, r)
	if err != nil {
		return err
	}
	if c.PeerID == r {
		if owner == c.ID && !c.PeerProven {
			c.PeerProven = true
		}
		return nil
	}
	if card == nil || card.PeerID != r {
		return nil
	}
	if owner != "" && owner != c.ID {
		o, err := sessions.LoadContact(b.tx, owner)
		if err != nil {
			return err
		}
		if o.PeerProven {
			return nil
		}
		if err := contacts.SetPeer(b.tx, &o.Record, "", false); err != nil {
			return err
		}
		if err := sessions.SaveContact(b.tx, o); err != nil {
			return err
		}
	}
	return contacts.SetPeer(b.tx, &c.Record, r, true)
}

// adoptCard takes the addresses and relays a contact's card announces: from the contact's
// own authenticated peer (prove bound it first), or, for mailbox mail, when the contact
// has no peer yet and the card's peer id belongs to no other contact (a card cannot take
// over another contact).
func (b *Batch) adoptCard(card *wire.Card) error {
	c := b.c
	switch {
	case b.remote != "" && card.PeerID == b.remote.String() && c.PeerID == card.PeerID:
	case b.remote == "" && card.PeerID == c.PeerID && c.PeerID != "":
	case b.remote == "" && c.PeerID == "" && card.PeerID != "":
		pid, err := peer.Decode(card.PeerID)
		if err != nil {
			return nil
		}
		owner, err := contacts.ByPeer(b.tx, pid.String())
		if err != nil || owner != "" {
			return err
		}
		c.PeerID = pid.String()
		if err := b.tx.Set(contacts.KeyByPeer(c.PeerID), []byte(c.ID)); err != nil {
			return err
		}
	default:
		return nil
	}
	c.Addrs, c.Relays = card.Addrs, card.Relays
	if pid, err := peer.Decode(c.PeerID); err == nil {
		b.h.AddAddrs(pid, c.Addrs)
	}
	return nil
}

// Reseal encrypts again, with s0, contact c's new current session, every outbox entry of
// c encrypted before, in queue order, keeping their envelope ids (the contact drops a copy
// it already has).
// A disappearing content sealed at rest is opened with s; one that expired is dropped.
func Reseal(tx *store.Tx, s outbox.Sealer, c *sessions.Contact, s0 *ratchet.State) error {
	type entry struct {
		key []byte
		rec outbox.Entry
	}
	var es []entry
	err := tx.Iterate(store.IterOptions{Prefix: outbox.KeyPrefix(c.Ch())}, func(k, v []byte) (bool, error) {
		var e entry
		if err := json.Unmarshal(v, &e.rec); err != nil {
			return false, err
		}
		if e.rec.Cipher == nil {
			return false, nil // this and what follows wait for the worker
		}
		e.key = k
		es = append(es, e)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, e := range es {
		err := outbox.SealFrom(s0, &e.rec, s, c.Ch(), e.rec.EnvID, c.Initial)
		if err == nil {
			err = outbox.SealCipher(tx, s, c.Ch(), &e.rec) // the new ciphertext, sealed like its content
		}
		if errors.Is(err, outbox.ErrGone) {
			if err := tx.Delete(e.key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := store.PutJSON(tx, e.key, &e.rec); err != nil {
			return err
		}
	}
	return nil
}

// Resend queues again what we sent the contact with the sequence numbers a resend
// request asks for (what the outbox's resend history still keeps), and wakes the
// contact's delivery worker. It is the handler of wire.KindResend.
func (b *Batch) Resend(ct *wire.Content) error {
	c := b.c
	oc := outbox.Contact{ID: c.Ch(), SendSeq: c.SendSeq, OutSeq: c.OutSeq, Sealer: b.h.Sealer}
	n, err := outbox.Requeue(b.tx, &oc, ct.From, ct.To, b.h.Now().UnixMilli())
	if err != nil {
		return err
	}
	c.OutSeq = oc.OutSeq
	b.kicks = b.kicks || n > 0
	return nil
}

// listedDevice takes the signed device list a card carries (TakeList) and returns the
// channel of device key pub if a verified list lists it, "" when none does.
func (b *Batch) listedDevice(card *wire.Card, pub *identity.PublicIdentity) (string, error) {
	if card == nil || len(card.Devices) == 0 || b.h.TakeList == nil {
		return "", nil
	}
	if err := b.h.TakeList(b.tx, card.Devices); err != nil {
		return "", err
	}
	return devices.ChannelByKey(b.tx, string(pub.UserID()))
}

// sameKey reports whether key (identity wire form) is pub.
func sameKey(key []byte, pub *identity.PublicIdentity) bool {
	k, err := identity.ParsePublic(key)
	return err == nil && k.Equal(pub)
}
