package relaystore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Remaining counts the one-time prekeys a mailbox's owner still has at the relay.
type Remaining = relaywire.Remaining

// PutPrekeys stores an owner's upload: the signed prekey and last-resort key replace the
// previous ones; one-time prekeys are added (same id: replaced) up to maxOneTime of each
// kind, the rest dropped. The caller has verified the signatures. The mailbox must be
// registered.
func (s *Store) PutPrekeys(ctx context.Context, mailbox []byte, u *relaywire.Upload, maxOneTime int) (Remaining, error) {
	if !validMailbox(mailbox) {
		return Remaining{}, ErrUnknownMailbox
	}
	mb := append([]byte(nil), mailbox...)
	head := append(u.SignedPrekey.Bytes(), u.LastResort.Bytes()...)
	var rem Remaining
	err := s.update(ctx, func(w *writeTx) error {
		if _, err := w.get(key(pfxRegistration, mb)); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return ErrUnknownMailbox
			}
			return err
		}
		w.set(key(pfxPrekeyHead, mb), head)
		have, err := countPrefix(w.txn, key(pfxOneTime, mb))
		if err != nil {
			return err
		}
		for _, k := range u.OneTime {
			if have >= maxOneTime {
				break
			}
			w.set(binary.BigEndian.AppendUint32(key(pfxOneTime, mb), k.ID()), k.Bytes())
			have++
		}
		havePQ, err := countPrefix(w.txn, key(pfxPQOneTime, mb))
		if err != nil {
			return err
		}
		for _, k := range u.PQOneTime {
			if havePQ >= maxOneTime {
				break
			}
			w.set(binary.BigEndian.AppendUint32(key(pfxPQOneTime, mb), k.ID()), k.Bytes())
			havePQ++
		}
		rem = Remaining{OneTime: have, PQOneTime: havePQ}
		return nil
	})
	return rem, err
}

// PrekeyCount returns how many one-time prekeys of each kind mailbox has left.
func (s *Store) PrekeyCount(mailbox []byte) (Remaining, error) {
	var rem Remaining
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if rem.OneTime, err = countPrefix(txn, key(pfxOneTime, mailbox)); err != nil {
			return err
		}
		rem.PQOneTime, err = countPrefix(txn, key(pfxPQOneTime, mailbox))
		return err
	})
	return rem, err
}

// TakeBundle builds a bundle for mailbox's owner and durably consumes the one-time prekeys
// it hands out (the lowest ids first), so each goes to exactly one caller. With no PQ
// one-time key left the bundle carries the last-resort key; with no X25519 one-time key,
// none.
func (s *Store) TakeBundle(ctx context.Context, mailbox []byte) (*prekey.Bundle, error) {
	if !validMailbox(mailbox) {
		return nil, ErrUnknownMailbox
	}
	mb := append([]byte(nil), mailbox...)
	var bundle *prekey.Bundle
	err := s.update(ctx, func(w *writeTx) error {
		reg, err := w.get(key(pfxRegistration, mb))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownMailbox
		}
		if err != nil {
			return err
		}
		owner, err := parseRegistration(reg)
		if err != nil {
			return err
		}
		head, err := w.get(key(pfxPrekeyHead, mb))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNoPrekeys
		}
		if err != nil {
			return err
		}
		if len(head) != prekey.SignedPrekeySize+prekey.PQPrekeySize {
			return fmt.Errorf("relaystore: prekey record of %d bytes", len(head))
		}
		spk, err := prekey.ParseSignedPrekey(head[:prekey.SignedPrekeySize])
		if err != nil {
			return err
		}
		pq, err := prekey.ParsePQPrekey(head[prekey.SignedPrekeySize:])
		if err != nil {
			return err
		}
		var opk *prekey.OneTimePrekey
		if k, v, err := first(w.txn, key(pfxOneTime, mb)); err != nil {
			return err
		} else if k != nil {
			o, err := prekey.ParseOneTimePrekey(v)
			if err != nil {
				return err
			}
			opk = &o
			w.del(k)
		}
		if k, v, err := first(w.txn, key(pfxPQOneTime, mb)); err != nil {
			return err
		} else if k != nil {
			if pq, err = prekey.ParsePQPrekey(v); err != nil {
				return err
			}
			w.del(k)
		}
		bundle, err = prekey.NewBundle(owner, spk, pq, opk)
		return err
	})
	return bundle, err
}

// first returns the first key and value under prefix, or nil.
func first(txn *badger.Txn, prefix []byte) (k, v []byte, err error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	it.Rewind()
	if !it.Valid() {
		return nil, nil, nil
	}
	v, err = it.Item().ValueCopy(nil)
	return it.Item().KeyCopy(nil), v, err
}

func countPrefix(txn *badger.Txn, prefix []byte) (int, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n, nil
}
