package clusterstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/relay/relaystore"
)

// Imported counts what Import moved.
type Imported struct {
	Mailboxes, Skipped, Messages, Prekeys int
}

// Import moves one exported mailbox of a single relay's Badger store into the cluster:
// its registration (with its original time), its mail in deposit order (deposit and expiry
// times kept; a multi deposit's record becomes a plain record of header and body joined,
// which the owner fetches unchanged) and its prekeys. A mailbox already registered in the
// cluster is skipped whole, so running a migration again imports nothing twice.
func (s *Store) Import(ctx context.Context, m *relaystore.ExportedMailbox, n *Imported) error {
	created, err := s.Register(ctx, m.Owner, time.UnixMilli(m.RegisteredAtMs))
	if err != nil {
		return err
	}
	if !created {
		n.Skipped++
		return nil
	}
	n.Mailboxes++
	var bytes int64
	for _, mail := range m.Mail {
		rec := binary.BigEndian.AppendUint64(nil, uint64(mail.DepositedAtMs))
		rec = binary.BigEndian.AppendUint64(rec, uint64(mail.ExpiresAtMs))
		rec = append(rec, mail.Envelope...)
		rctx, cancel := s.req(ctx)
		_, err := s.js.Publish(rctx, s.mailSubject(m.Mailbox), rec)
		cancel()
		if err != nil {
			return fmt.Errorf("clusterstore: import mail: %w", err)
		}
		bytes += int64(len(mail.Envelope))
		n.Messages++
	}
	if len(m.Mail) > 0 {
		if _, err := s.usage.add(ctx, string(m.Mailbox), usage{count: int64(len(m.Mail)), bytes: bytes}, 0); err != nil {
			return fmt.Errorf("clusterstore: import usage: %w", err)
		}
	}
	if m.PrekeyHead != nil {
		rctx, cancel := s.req(ctx)
		defer cancel()
		if _, err := s.pre.Put(rctx, headKey(m.Mailbox), m.PrekeyHead); err != nil {
			return fmt.Errorf("clusterstore: import prekeys: %w", err)
		}
		for _, k := range m.OneTime {
			if _, err := s.pre.Put(rctx, fmt.Sprintf("%s.%08x", oneTimeKey("o", m.Mailbox), k.ID), k.Bytes); err != nil {
				return fmt.Errorf("clusterstore: import prekeys: %w", err)
			}
			n.Prekeys++
		}
		for _, k := range m.PQOneTime {
			if _, err := s.pre.Put(rctx, fmt.Sprintf("%s.%08x", oneTimeKey("q", m.Mailbox), k.ID), k.Bytes); err != nil {
				return fmt.Errorf("clusterstore: import prekeys: %w", err)
			}
			n.Prekeys++
		}
	}
	return nil
}
