package shredkeys

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

// TestBucketInTransaction: a bucket made inside the transaction that seals under it
// exists once that transaction commits (and after a restart); a transaction that fails
// leaves no record, and the next one that asks for the bucket gets it with a record.
func TestBucketInTransaction(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	exp := n.clk.Now().Add(90 * time.Minute)
	errAbort := errors.New("abort")
	err := n.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := n.kr.ExpiryBucketIn(tx, exp); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("aborted transaction: %v", err)
	}
	b, _ := n.kr.window(Expiry, exp)
	if _, ok := n.refs(t, b); ok {
		t.Fatal("an aborted transaction left a bucket record")
	}
	var pb Bucket
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		eb, err := n.kr.ExpiryBucketIn(tx, exp)
		if err != nil {
			return err
		}
		if pb, err = n.kr.PendingBucketIn(tx, n.clk.Now()); err != nil {
			return err
		}
		for key, bk := range map[string]Bucket{"a": eb, "p": pb} {
			sealed, err := n.kr.Seal(tx, bk, []byte(key), []byte("in one transaction "+key))
			if err != nil {
				return err
			}
			if err := tx.Set([]byte(key), sealed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n.restart(t)
	for _, key := range []string{"a", "p"} {
		if got, err := n.get(key); err != nil || got != "in one transaction "+key {
			t.Fatalf("after a restart %s: %q %v", key, got, err)
		}
	}
	if refs, ok := n.refs(t, b); !ok || refs != 1 {
		t.Fatalf("bucket record: %d %v", refs, ok)
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		_, err := n.kr.ExpiryBucketIn(tx, n.clk.Now().Add(-2*time.Hour))
		return err
	})
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("a past expiry: %v", err)
	}
}
