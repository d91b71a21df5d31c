package relaystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// ExportedMailbox is one mailbox as Export hands it out: its registration, its mail in
// deposit order (a multi deposit's record as the owner fetches it: header and body
// joined) and its prekeys.
type ExportedMailbox struct {
	Mailbox        []byte
	Owner          *identity.PublicIdentity
	RegisteredAtMs int64
	Mail           []ExportedMail
	// PrekeyHead is the signed prekey ‖ last-resort PQ prekey (nil: none uploaded).
	PrekeyHead         []byte
	OneTime, PQOneTime []ExportedPrekey
}

// ExportedMail is one stored message.
type ExportedMail struct {
	DepositedAtMs, ExpiresAtMs int64
	Envelope                   []byte
}

// ExportedPrekey is a one-time prekey and its id.
type ExportedPrekey struct {
	ID    uint32
	Bytes []byte
}

// Export calls fn with every registered mailbox, one at a time, from one consistent
// snapshot (for moving a relay's state into a cluster: `petrel relay migrate`).
func (s *Store) Export(fn func(*ExportedMailbox) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		regs := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxRegistration}, PrefetchValues: true})
		defer regs.Close()
		for regs.Rewind(); regs.Valid(); regs.Next() {
			v, err := regs.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			owner, err := parseRegistration(v)
			if err != nil {
				return err
			}
			mb := regs.Item().KeyCopy(nil)[1:]
			m := &ExportedMailbox{Mailbox: mb, Owner: owner, RegisteredAtMs: int64(binary.BigEndian.Uint64(v[1:9]))}
			if err := exportMail(txn, m); err != nil {
				return err
			}
			if err := exportPrekeys(txn, m); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	})
}

func exportMail(txn *badger.Txn, m *ExportedMailbox) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: key(pfxMail, m.Mailbox), PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		r, err := ParseMailRecord(v)
		if err != nil {
			return err
		}
		env := r.Envelope
		if r.Shared {
			bi, err := txn.Get(bodyKey(pfxBody, r.BodyID))
			if err != nil {
				continue // swept with its TTL
			}
			body, err := bi.ValueCopy(nil)
			if err != nil {
				return err
			}
			env = sealed.JoinShared(r.Envelope, body)
		}
		m.Mail = append(m.Mail, ExportedMail{DepositedAtMs: r.DepositedAt, ExpiresAtMs: r.ExpiresAt, Envelope: env})
	}
	return nil
}

func exportPrekeys(txn *badger.Txn, m *ExportedMailbox) error {
	if it, err := txn.Get(key(pfxPrekeyHead, m.Mailbox)); err == nil {
		if m.PrekeyHead, err = it.ValueCopy(nil); err != nil {
			return err
		}
	}
	for _, kind := range []struct {
		pfx byte
		dst *[]ExportedPrekey
	}{{pfxOneTime, &m.OneTime}, {pfxPQOneTime, &m.PQOneTime}} {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: key(kind.pfx, m.Mailbox), PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return fmt.Errorf("relaystore: export prekeys: %w", err)
			}
			*kind.dst = append(*kind.dst, ExportedPrekey{ID: binary.BigEndian.Uint32(k[len(k)-4:]), Bytes: v})
		}
		it.Close()
	}
	return nil
}

// ExportedBlob is one stored blob as ExportBlobs hands it out: its id, record and bytes.
type ExportedBlob struct {
	ID   relaywire.BlobID
	Info BlobInfo
	Data []byte
}

// ExportBlobs calls fn with every blob whose TTL has not ended at now, one at a time, from
// one consistent snapshot (`petrel relay migrate`). A blob whose bytes are missing or do
// not hash to its id is not handed out but counted in corrupt (it could not be served; its
// uploader uploads it again).
func (s *Store) ExportBlobs(now time.Time, fn func(*ExportedBlob) error) (corrupt int, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBlobInfo}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 1+relaywire.BlobIDSize {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			info, err := ParseBlobInfo(v)
			if err != nil {
				return err
			}
			if info.ExpiresAt <= now.UnixMilli() {
				continue
			}
			b := &ExportedBlob{Info: info}
			copy(b.ID[:], k[1:])
			bi, err := txn.Get(blobKey(pfxBlob, b.ID))
			if errors.Is(err, badger.ErrKeyNotFound) {
				corrupt++
				continue
			}
			if err != nil {
				return fmt.Errorf("relaystore: export blob: %w", err)
			}
			if b.Data, err = bi.ValueCopy(nil); err != nil {
				return err
			}
			if len(b.Data) != info.Size || relaywire.BlobIDOf(b.Data) != b.ID {
				corrupt++
				continue
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	})
	return corrupt, err
}
