package clusterstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/relay/relaystore"
)

// Imported counts what Import and ImportBlob moved.
type Imported struct {
	Mailboxes, Skipped, Messages, Prekeys int
	// Blobs and BlobBytes are the blobs stored; BlobsSkipped those the cluster held
	// already; BlobsCorrupt those the single relay held without bytes hashing to their id
	// (not moved: their uploaders upload them again).
	Blobs, BlobsSkipped, BlobsCorrupt int
	BlobBytes                         int64
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

// ImportBlob moves one exported blob of a single relay's Badger store into the cluster,
// with its record (size, expiry, uploader) and its uploader's charge; its chunks are
// written now, so its stored-at time is now. A blob the cluster holds already is skipped
// (its expiry moved to the later of the two), so running a migration again stores nothing
// twice. Like any upload, its object is read back and checked before its record is
// written.
func (s *Store) ImportBlob(ctx context.Context, b *relaystore.ExportedBlob, now time.Time, n *Imported) error {
	if err := relaystore.CheckBlob(b.Info.Uploader, b.ID, b.Data); err != nil {
		return fmt.Errorf("clusterstore: import blob: %w", err)
	}
	ttl := time.Duration(b.Info.ExpiresAt-now.UnixMilli()) * time.Millisecond
	if ttl <= 0 {
		return nil
	}
	switch err := s.TouchBlob(ctx, b.ID, now, relaystore.BlobQuota{TTL: ttl}); {
	case err == nil:
		n.BlobsSkipped++
		return nil
	case !errors.Is(err, relaystore.ErrBlobNotFound):
		return fmt.Errorf("clusterstore: import blob: %w", err)
	}
	if err := s.putObject(ctx, b.ID, bytes.NewReader(b.Data), len(b.Data)); err != nil {
		return fmt.Errorf("clusterstore: import blob: %w", err)
	}
	info := b.Info
	info.StoredAt = now.UnixMilli()
	rctx, cancel := s.req(ctx)
	_, err := s.blob.meta.Create(rctx, blobKey(b.ID), relaystore.MarshalBlobInfo(info))
	cancel()
	if isConflict(err) {
		n.BlobsSkipped++ // uploaded to the cluster meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("clusterstore: import blob record: %w", err)
	}
	if err := s.chargeBlob(ctx, info.Uploader, 1, int64(info.Size)); err != nil {
		return fmt.Errorf("clusterstore: import blob charge: %w", err)
	}
	s.blob.mu.Lock()
	s.blob.stats.Blobs++
	s.blob.stats.Bytes += int64(info.Size)
	s.blob.mu.Unlock()
	n.Blobs++
	n.BlobBytes += int64(info.Size)
	return nil
}
