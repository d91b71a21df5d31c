package storeformat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// steps are the in-place upgrades of the store's format (docs/PROTOCOL.md "Store format
// version"), in order: step i brings a store from format i to i+1. The messenger runs them
// (Upgrade) before anything else reads the store.
var steps = []store.Step{
	{Name: "versioned contact, channel, conversation and message records", Run: upgradeRecords},
	{Name: "binary message records", Run: binaryMessages},
	{Name: "push registrations apart from last seen", Run: pushRecords},
}

// Version is the store format this code writes.
func Version() int { return len(steps) }

// Upgrade brings st to Version and returns the version it found; a store of a newer
// format is refused (store.ErrNewerFormat) and left untouched.
func Upgrade(ctx context.Context, st *store.Store) (from int, err error) {
	return store.Upgrade(ctx, st, steps)
}

// upgradeBatch bounds the records one upgrade transaction rewrites.
const upgradeBatch = 512

// upgradeRecords is format step 1. Format 0 records carry no version: a contact record
// (ct/) holds the address book and the delivery counters together, a message record
// (ms/) holds its api.Message under "m", a conversation record (cv/) is the same as
// today's without "v". Each becomes its versioned record: the counters move to the
// contact's sessions.Channel (sc/). Records that already have a version are left alone,
// so the step can run again after a crash.
func upgradeRecords(ctx context.Context, st *store.Store) error {
	records := []struct {
		prefix []byte
		fn     func(tx *store.Tx, v []byte) error
	}{
		{contacts.Prefix, upgradeContact},
		{history.ConvPrefix, upgradeConv},
		{history.MsgPrefix, upgradeMsg},
	}
	for _, s := range records {
		if err := rewriteAll(ctx, st, s.prefix, func(tx *store.Tx, _, v []byte) error { return s.fn(tx, v) }); err != nil {
			return err
		}
	}
	return nil
}

// rewriteAll runs fn over every record under prefix, upgradeBatch records a transaction.
func rewriteAll(ctx context.Context, st *store.Store, prefix []byte, fn func(tx *store.Tx, k, v []byte) error) error {
	var start []byte
	for {
		n := 0
		var last []byte
		if err := st.Update(ctx, func(tx *store.Tx) error {
			n, last = 0, nil
			return tx.Iterate(store.IterOptions{Prefix: prefix, Start: start}, func(k, v []byte) (bool, error) {
				if start != nil && bytes.Equal(k, start) {
					return true, nil
				}
				if err := fn(tx, k, v); err != nil {
					return false, fmt.Errorf("%s: %w", store.KeyPrefix(k), err)
				}
				n++
				last = bytes.Clone(k)
				return n < upgradeBatch, nil
			})
		}); err != nil {
			return err
		}
		if n < upgradeBatch {
			return nil
		}
		start = last
	}
}

// version is the "v" of a JSON record (0 when it has none).
func version(v []byte) (int, error) {
	var r struct {
		V int `json:"v"`
	}
	err := json.Unmarshal(v, &r)
	return r.V, err
}

func upgradeContact(tx *store.Tx, v []byte) error {
	if n, err := version(v); err != nil || n != 0 {
		return err
	}
	var r contacts.Record
	var ch sessions.Channel
	if err := json.Unmarshal(v, &r); err != nil {
		return err
	}
	if err := json.Unmarshal(v, &ch); err != nil {
		return err
	}
	if err := sessions.SaveChannel(tx, r.ID, &ch); err != nil {
		return err
	}
	return contacts.Put(tx, &r)
}

func upgradeConv(tx *store.Tx, v []byte) error {
	if n, err := version(v); err != nil || n != 0 {
		return err
	}
	var c history.Conversation
	if err := json.Unmarshal(v, &c); err != nil {
		return err
	}
	return history.PutConversation(tx, &c)
}

// msgV0 is a format 0 message record.
type msgV0 struct {
	M         api.Message       `json:"m"`
	ContactID string            `json:"contact_id"`
	Incoming  bool              `json:"incoming"`
	EditTS    string            `json:"edit_ts,omitempty"`
	ReactTS   history.Reactions `json:"react_ts,omitempty"`
}

func upgradeMsg(tx *store.Tx, v []byte) error {
	if history.IsBinaryMessage(v) { // written by a later step (history.PutMessage)
		return nil
	}
	if n, err := version(v); err != nil || n != 0 {
		return err
	}
	var old msgV0
	if err := json.Unmarshal(v, &old); err != nil {
		return err
	}
	if old.M.ID == "" {
		return fmt.Errorf("a message record without a message")
	}
	r := &history.Message{ContactID: old.ContactID, Incoming: old.Incoming, EditTS: old.EditTS, ReactTS: old.ReactTS}
	history.FromAPI(r, &old.M)
	return history.PutMessage(tx, nil, r) // older formats had no disappearing messages
}

// binaryMessages is format step 2. Message records (ms/) of format 1 are JSON
// history.Message at "v": 1; each becomes the same record in the binary layout
// (history.EncodeMessage, docs/PROTOCOL.md "Message records"), as it is: a disappearing
// message's record without its content stays one (its sealed content at mz/, JSON or
// binary, is read either way and left alone). Binary records are left alone, so the step
// can run again after a crash.
func binaryMessages(ctx context.Context, st *store.Store) error {
	return rewriteAll(ctx, st, history.MsgPrefix, func(tx *store.Tx, k, v []byte) error {
		if history.IsBinaryMessage(v) {
			return nil
		}
		var r history.Message
		if err := history.DecodeMessage(v, &r); err != nil {
			return err
		}
		if r.V != history.Version || !bytes.Equal(history.KeyMsg(r.ID), k) {
			return fmt.Errorf("a message record of version %d holding message %q", r.V, r.ID)
		}
		return tx.Set(k, history.EncodeMessage(&r))
	})
}

// lastSeenPrefix is node/presence's: pr/<contact id> holds a contact's last seen time, a
// decimal Unix ms.
const lastSeenPrefix = "pr/"

// pushRecords is format step 3. Push registrations (node/push, JSON objects) were kept
// under pr/<id>, the prefix of node/presence's last seen times (decimal numbers), and a
// node that held both could read neither list of registrations. Each JSON object under
// pr/ moves to push.RecordPrefix with the same id; the last seen times stay. Moved records
// are gone from pr/, so the step can run again after a crash.
func pushRecords(ctx context.Context, st *store.Store) error {
	return rewriteAll(ctx, st, []byte(lastSeenPrefix), func(tx *store.Tx, k, v []byte) error {
		if len(v) == 0 || v[0] != '{' {
			return nil // a last seen time
		}
		id := k[len(lastSeenPrefix):]
		if err := tx.Set(append([]byte(push.RecordPrefix), id...), v); err != nil {
			return err
		}
		return tx.Delete(k)
	})
}
