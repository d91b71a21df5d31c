package mailboxclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Blob errors. A relay's refusal of an upload matches ErrRefused and ErrBlobMismatch,
// ErrBlobSize, ErrQuotaBytes (the uploader's blob quota), ErrNotRegistered, ...
var (
	// ErrBlobNotFound: the relay does not hold the blob (never uploaded there, or expired).
	ErrBlobNotFound = errors.New("relay: no such blob")
	// ErrBlobCorrupt: the relay served bytes that do not hash to the blob's id (a
	// *CorruptBlobError): faulty or hostile; fetch the blob elsewhere.
	ErrBlobCorrupt = errors.New("relay served a corrupt blob")
	// ErrBlobMismatch: the relay refused an upload whose bytes do not hash to its id.
	ErrBlobMismatch = errors.New("relay: blob bytes do not match its id")
	// ErrBlobSize: the blob's size is not a padding bucket (pad it: relaywire.BlobBucket).
	ErrBlobSize = errors.New("relay: blob size is not a padding bucket")
)

// CorruptBlobError is a blob whose bytes from Relay do not hash to ID.
type CorruptBlobError struct {
	ID    relaywire.BlobID
	Relay peer.ID
}

func (e *CorruptBlobError) Error() string {
	return fmt.Sprintf("relay %s served bytes that do not hash to blob %x", e.Relay, e.ID[:8])
}

// Is matches ErrBlobCorrupt.
func (e *CorruptBlobError) Is(target error) bool { return target == ErrBlobCorrupt }

// BlobInfo is what a relay holds of a blob.
type BlobInfo struct {
	Present bool
	Size    int       // a padding bucket when present
	Expires time.Time // when the relay drops it unless it is uploaded again
}

// PutBlob uploads blob (its size a padding bucket: relaywire.BlobBucket, the caller pads)
// to relay as id's node, and returns its id (SHA-256 of its bytes) once the relay holds it
// durably. A blob the relay holds already is not sent again: the upload only renews it
// for the relay's mailbox TTL. id must be registered at relay (ErrNotRegistered).
func PutBlob(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, blob []byte) (relaywire.BlobID, error) {
	bid := relaywire.BlobIDOf(blob)
	if !relaywire.ValidBlobSize(len(blob)) {
		return bid, fmt.Errorf("%w: %d bytes (want a power of two from %d to %d)", ErrBlobSize, len(blob), relaywire.MinBlobSize, relaywire.MaxBlobSize)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.BlobProtocol)
	if err != nil {
		return bid, err
	}
	err = func() error {
		if err := c.authenticate(h, relay, id, false, ""); err != nil {
			return err
		}
		if err := c.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: bid, Size: len(blob)})); err != nil {
			return err
		}
		st, err := c.blobStat()
		if err != nil || st.Present {
			return err
		}
		buf := make([]byte, 0, 1+relaywire.MaxBlobData)
		for off := 0; off < len(blob); off += relaywire.MaxBlobData {
			buf = relaywire.AppendBlobData(buf[:0], blob[off:min(off+relaywire.MaxBlobData, len(blob))])
			if err := c.write(buf); err != nil {
				return err
			}
		}
		if err := c.flush(); err != nil {
			return err
		}
		return c.result()
	}()
	c.close(err)
	return bid, err
}

// blobStat reads a BlobStat (a Result instead is the relay's refusal).
func (c *conn) blobStat() (relaywire.BlobStat, error) {
	body, err := c.read(relaywire.TypeBlobStat)
	if err != nil {
		return relaywire.BlobStat{}, err
	}
	st, err := relaywire.ParseBlobStat(body)
	if err != nil {
		return st, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return st, nil
}

// HasBlob asks relay what it holds of blob id (anyone may ask).
func HasBlob(ctx context.Context, h host.Host, relay peer.ID, id relaywire.BlobID) (BlobInfo, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.BlobProtocol)
	if err != nil {
		return BlobInfo{}, err
	}
	var st relaywire.BlobStat
	err = c.send(relaywire.AppendBlobHas(nil, id))
	if err == nil {
		st, err = c.blobStat()
	}
	c.close(err)
	if err != nil {
		return BlobInfo{}, err
	}
	return blobInfo(st), nil
}

func blobInfo(st relaywire.BlobStat) BlobInfo {
	if !st.Present {
		return BlobInfo{}
	}
	return BlobInfo{Present: true, Size: st.Size, Expires: time.UnixMilli(st.ExpiresAt)}
}

// GetBlob fetches n bytes of blob id from relay, from offset off (a range past the blob's
// end stops there; n < 0 reads to the end). Anyone holding the id may fetch. When the
// range is the whole blob its bytes are checked against the id, and bytes that do not hash
// to it are a *CorruptBlobError (ErrBlobCorrupt); a partial range (a resumed download)
// cannot be checked alone: check the whole with VerifyBlob. ErrBlobNotFound when the relay
// does not hold it.
func GetBlob(ctx context.Context, h host.Host, relay peer.ID, id relaywire.BlobID, off, n int) ([]byte, error) {
	if n < 0 || n > relaywire.MaxBlobSize {
		n = relaywire.MaxBlobSize
	}
	if off < 0 || off >= relaywire.MaxBlobSize || n == 0 {
		return nil, fmt.Errorf("mailboxclient: blob range %d+%d", off, n)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.BlobProtocol)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = func() error {
		if err := c.send(relaywire.AppendBlobGet(nil, relaywire.BlobGet{ID: id, Offset: off, Length: n})); err != nil {
			return err
		}
		st, err := c.blobStat()
		if err != nil {
			return err
		}
		if !st.Present {
			return ErrBlobNotFound
		}
		if off >= st.Size {
			return fmt.Errorf("%w: a blob of %d bytes for a range from %d", ErrProtocol, st.Size, off)
		}
		want := min(n, st.Size-off)
		out = make([]byte, 0, want)
		for len(out) < want {
			body, err := c.read(relaywire.TypeBlobData)
			if err != nil {
				return err
			}
			d, err := relaywire.ParseBlobData(body)
			if err != nil || len(out)+len(d) > want {
				return fmt.Errorf("%w: blob data beyond the range", ErrProtocol)
			}
			out = append(out, d...)
		}
		if off == 0 && want == st.Size && relaywire.BlobIDOf(out) != id {
			return &CorruptBlobError{ID: id, Relay: relay}
		}
		return nil
	}()
	c.close(err)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyBlob checks that blob hashes to id (a blob assembled from ranges).
func VerifyBlob(relay peer.ID, id relaywire.BlobID, blob []byte) error {
	if relaywire.BlobIDOf(blob) != id {
		return &CorruptBlobError{ID: id, Relay: relay}
	}
	return nil
}

// Blobs is one node's view of one relay's blob store, for a media fetcher's interface.
type Blobs struct {
	Host  host.Host
	Relay peer.ID
	ID    *identity.Identity // the uploader (registered at Relay); nil for fetching only
}

// Put uploads blob (PutBlob).
func (b *Blobs) Put(ctx context.Context, blob []byte) (relaywire.BlobID, error) {
	if b.ID == nil {
		return relaywire.BlobID{}, errors.New("mailboxclient: no identity to upload blobs with")
	}
	return PutBlob(ctx, b.Host, b.Relay, b.ID, blob)
}

// Get fetches a range of a blob (GetBlob).
func (b *Blobs) Get(ctx context.Context, id relaywire.BlobID, off, n int) ([]byte, error) {
	return GetBlob(ctx, b.Host, b.Relay, id, off, n)
}

// Has asks what the relay holds of a blob (HasBlob).
func (b *Blobs) Has(ctx context.Context, id relaywire.BlobID) (BlobInfo, error) {
	return HasBlob(ctx, b.Host, b.Relay, id)
}
