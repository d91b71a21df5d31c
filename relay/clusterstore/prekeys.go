package clusterstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Prekey bucket keys: "h.MAILBOX" → signed prekey ‖ last-resort PQ prekey; "o.MAILBOX.ID"
// → an X25519 one-time prekey; "q.MAILBOX.ID" → a PQ one-time prekey (ID: 8 hex digits,
// so keys sort by id).
func headKey(mb []byte) string                 { return "h." + mailboxKey(mb) }
func oneTimeKey(kind string, mb []byte) string { return kind + "." + mailboxKey(mb) }

// PutPrekeys stores an owner's upload (the caller verified the signatures): the signed
// and last-resort keys replace the previous ones; one-time keys are added up to
// maxOneTime of each kind.
func (s *Store) PutPrekeys(ctx context.Context, mailbox []byte, u *relaywire.Upload, maxOneTime int) (relaystore.Remaining, error) {
	if _, err := s.Owner(mailbox); err != nil {
		return relaystore.Remaining{}, err
	}
	rctx, cancel := s.req(ctx)
	defer cancel()
	head := append(u.SignedPrekey.Bytes(), u.LastResort.Bytes()...)
	if _, err := s.pre.Put(rctx, headKey(mailbox), head); err != nil {
		return relaystore.Remaining{}, fmt.Errorf("clusterstore: prekeys: %w", err)
	}
	put := func(kind string, ids []uint32, val func(int) []byte) (int, error) {
		have, err := s.listKeys(rctx, oneTimeKey(kind, mailbox))
		if err != nil {
			return 0, err
		}
		n := len(have)
		for i, id := range ids {
			if n >= maxOneTime {
				break
			}
			k := fmt.Sprintf("%s.%08x", oneTimeKey(kind, mailbox), id)
			if _, err := s.pre.Put(rctx, k, val(i)); err != nil {
				return n, fmt.Errorf("clusterstore: prekeys: %w", err)
			}
			if !slices.Contains(have, k) {
				n++
			}
		}
		return n, nil
	}
	var rem relaystore.Remaining
	var err error
	ids := make([]uint32, len(u.OneTime))
	for i, k := range u.OneTime {
		ids[i] = k.ID()
	}
	if rem.OneTime, err = put("o", ids, func(i int) []byte { return u.OneTime[i].Bytes() }); err != nil {
		return rem, err
	}
	ids = make([]uint32, len(u.PQOneTime))
	for i, k := range u.PQOneTime {
		ids[i] = k.ID()
	}
	rem.PQOneTime, err = put("q", ids, func(i int) []byte { return u.PQOneTime[i].Bytes() })
	return rem, err
}

// listKeys returns the sorted keys under prefix (prefix + ".*").
func (s *Store) listKeys(ctx context.Context, prefix string) ([]string, error) {
	l, err := s.pre.ListKeysFiltered(ctx, prefix+".*")
	if err != nil {
		return nil, fmt.Errorf("clusterstore: prekeys: %w", err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// PrekeyCount returns how many one-time prekeys of each kind mailbox has left.
func (s *Store) PrekeyCount(mailbox []byte) (relaystore.Remaining, error) {
	ctx, cancel := s.req(s.ctx)
	defer cancel()
	o, err := s.listKeys(ctx, oneTimeKey("o", mailbox))
	if err != nil {
		return relaystore.Remaining{}, err
	}
	q, err := s.listKeys(ctx, oneTimeKey("q", mailbox))
	return relaystore.Remaining{OneTime: len(o), PQOneTime: len(q)}, err
}

// TakeBundle builds a bundle and consumes the one-time prekeys it hands out (lowest id
// first): each key is deleted by compare-and-set on its revision, so across the cluster
// each goes to exactly one caller.
func (s *Store) TakeBundle(ctx context.Context, mailbox []byte) (*prekey.Bundle, error) {
	owner, err := s.Owner(mailbox)
	if err != nil {
		return nil, err
	}
	rctx, cancel := s.req(ctx)
	defer cancel()
	e, err := s.leaderGet(rctx, s.pre, headKey(mailbox))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, relaystore.ErrNoPrekeys
	}
	if err != nil {
		return nil, fmt.Errorf("clusterstore: bundle: %w", err)
	}
	head := e.value
	if len(head) != prekey.SignedPrekeySize+prekey.PQPrekeySize {
		return nil, fmt.Errorf("clusterstore: prekey record of %d bytes", len(head))
	}
	spk, err := prekey.ParseSignedPrekey(head[:prekey.SignedPrekeySize])
	if err != nil {
		return nil, err
	}
	pq, err := prekey.ParsePQPrekey(head[prekey.SignedPrekeySize:])
	if err != nil {
		return nil, err
	}
	var opk *prekey.OneTimePrekey
	if v, err := s.takeOne(rctx, oneTimeKey("o", mailbox)); err != nil {
		return nil, err
	} else if v != nil {
		o, err := prekey.ParseOneTimePrekey(v)
		if err != nil {
			return nil, err
		}
		opk = &o
	}
	if v, err := s.takeOne(rctx, oneTimeKey("q", mailbox)); err != nil {
		return nil, err
	} else if v != nil {
		if pq, err = prekey.ParsePQPrekey(v); err != nil {
			return nil, err
		}
	}
	return prekey.NewBundle(owner, spk, pq, opk)
}

// takeOne deletes and returns the lowest-id key under prefix, or nil when none is left.
func (s *Store) takeOne(ctx context.Context, prefix string) ([]byte, error) {
	for round := 0; round < 10; round++ {
		keys, err := s.listKeys(ctx, prefix)
		if err != nil || len(keys) == 0 {
			return nil, err
		}
		for _, k := range keys {
			e, err := s.leaderGet(ctx, s.pre, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("clusterstore: bundle: %w", err)
			}
			err = s.pre.Delete(ctx, k, jetstream.LastRevision(e.revision))
			if isConflict(err) {
				continue // taken by another request first
			}
			if err != nil {
				return nil, fmt.Errorf("clusterstore: bundle: %w", err)
			}
			return e.value, nil
		}
	}
	return nil, nil
}
