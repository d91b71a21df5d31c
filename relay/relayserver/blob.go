package relayserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"github.com/prometheus/client_golang/prometheus"
)

// serviceBlob is the resource-manager service of the blob protocol.
const serviceBlob = "petrel.blob"

// blobFrameLimit bounds a blob protocol frame (a BlobData frame; an Auth or Proof is less).
const blobFrameLimit = 1 + relaywire.MaxBlobData

// blobMinRate is the slowest transfer a blob stream is given time for (beyond the stream
// timeout), so a peer trickling bytes cannot hold a blob's memory for long.
const blobMinRate = 32 << 10 // bytes per second

// transferDeadline is when a transfer of n bytes started now must be done.
func (s *Server) transferDeadline(n int) time.Time {
	return time.Now().Add(time.Duration(s.cfg.Mailbox.StreamTimeout) + time.Duration(n)*time.Second/blobMinRate)
}

// getCost is what a get of n bytes takes from the peer's bucket: one token per 64 KiB.
func getCost(n int) int { return max(1, (n+relaywire.MaxBlobData-1)/relaywire.MaxBlobData) }

// BlobStore is what the blob handlers need from the store (relaystore and clusterstore
// both): content-addressed blobs charged once to their first uploader, kept for the mailbox
// TTL after their last upload. Errors are relaystore's blob sentinels.
type BlobStore interface {
	PutBlob(ctx context.Context, uploader []byte, id relaywire.BlobID, data []byte, now time.Time, q relaystore.BlobQuota) (stored bool, err error)
	TouchBlob(ctx context.Context, id relaywire.BlobID, now time.Time, q relaystore.BlobQuota) error
	StatBlob(id relaywire.BlobID, now time.Time) (relaystore.BlobInfo, error)
	ReadBlob(id relaywire.BlobID, off, n int, now time.Time) ([]byte, error)
	BlobUsage(uploader []byte) (blobs, bytes int64, err error)
	PurgeBlobs(ctx context.Context, now time.Time) (int, error)
	BlobStats() relaystore.BlobStats
}

// BlobLimits configure the blob store (the config's `blobs`; docs/OPERATIONS.md). Blobs
// live as long as mail: the mailbox TTL after their last upload.
type BlobLimits struct {
	// Enabled serves /petrel/blob/1.0.0.
	Enabled bool `json:"enabled"`
	// MaxBytesPerUploader bounds the bytes of blobs charged to one uploader (0: unlimited).
	MaxBytesPerUploader int64 `json:"max_bytes_per_uploader"`
	// MaxBlobBytes is the largest blob (a padding bucket, at most 4 MiB).
	MaxBlobBytes int `json:"max_blob_bytes"`
	// MaxTotalBytes bounds the whole blob store (0: unlimited; a cluster checks its
	// totals of the last two seconds).
	MaxTotalBytes int64 `json:"max_total_bytes"`
	// PutRate and PutBurst limit uploads per uploader (blobs per second, 0 = unlimited);
	// GetRate and GetBurst limit get and has requests per peer, each 64 KiB a get serves
	// counting as one request.
	PutRate  float64 `json:"put_rate"`
	PutBurst int     `json:"put_burst"`
	GetRate  float64 `json:"get_rate"`
	GetBurst int     `json:"get_burst"`
}

// DefaultBlobLimits are the blob store's defaults.
func DefaultBlobLimits() BlobLimits {
	return BlobLimits{Enabled: true, MaxBytesPerUploader: 1 << 30, MaxBlobBytes: relaywire.MaxBlobSize,
		PutRate: 50, PutBurst: 500, GetRate: 200, GetBurst: 1000}
}

func (b *BlobLimits) validate() error {
	if !b.Enabled {
		return nil
	}
	if !relaywire.ValidBlobSize(b.MaxBlobBytes) {
		return fmt.Errorf("blobs: max_blob_bytes %d is not a power of two from %d to %d", b.MaxBlobBytes, relaywire.MinBlobSize, relaywire.MaxBlobSize)
	}
	if b.MaxBytesPerUploader < 0 || b.MaxTotalBytes < 0 || b.PutRate < 0 || b.PutBurst < 0 || b.GetRate < 0 || b.GetBurst < 0 {
		return errors.New("blobs: limits, rates and bursts must be ≥ 0")
	}
	return nil
}

// blobService is the blob protocol's rate buckets and metrics.
type blobService struct {
	putRate, getRate *limiters

	puts, stored, putBytes, gets, getBytes, has, purged prometheus.Counter
	// receiving and receivingBytes are the uploads taking bytes now and the bytes they
	// hold so far.
	receiving, receivingBytes atomic.Int64
}

func newBlobService(cfg BlobLimits) *blobService {
	return &blobService{putRate: newLimiters(cfg.PutRate, cfg.PutBurst), getRate: newLimiters(cfg.GetRate, cfg.GetBurst)}
}

// register adds the blob series to reg.
func (b *blobService) register(reg *prometheus.Registry, st BlobStore) {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "petrel_relay", Subsystem: "blob", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "petrel_relay", Subsystem: "blob", Name: name, Help: help}, f))
	}
	b.puts = counter("puts_total", "Blob uploads accepted (new, or already held and refreshed).")
	b.stored = counter("stored_total", "Blobs stored new (each blob once, whoever uploads it again).")
	b.putBytes = counter("put_bytes_total", "Blob bytes received and stored.")
	b.gets = counter("gets_total", "Blob range requests answered with bytes.")
	b.getBytes = counter("get_bytes_total", "Blob bytes served.")
	b.has = counter("stats_total", "Blob has/stat requests answered.")
	b.purged = counter("purged_total", "Blobs deleted because their TTL ended.")
	gauge("blobs", "Blobs held (each once).", func() float64 { return float64(st.BlobStats().Blobs) })
	gauge("bytes", "Bytes of blobs held (each once).", func() float64 { return float64(st.BlobStats().Bytes) })
	gauge("uploads_receiving", "Uploads receiving bytes now.", func() float64 { return float64(b.receiving.Load()) })
	gauge("receiving_bytes", "Bytes held by uploads still receiving (each at most one blob).", func() float64 { return float64(b.receivingBytes.Load()) })
	gauge("rate_buckets", "Token buckets held for recent blob uploaders and readers.", func() float64 {
		return float64(b.putRate.size() + b.getRate.size())
	})
}

func (b *blobService) sweep(now time.Time) {
	b.putRate.sweep(now)
	b.getRate.sweep(now)
}

func (s *Server) blobQuota() relaystore.BlobQuota {
	return relaystore.BlobQuota{MaxBytes: s.cfg.Blobs.MaxBytesPerUploader, TTL: time.Duration(s.cfg.Mailbox.TTL)}
}

// purgeBlobs deletes expired blobs (the maintenance loop's work).
func (s *Server) purgeBlobs(ctx context.Context, now time.Time) {
	n, err := s.store.PurgeBlobs(ctx, now)
	if n > 0 {
		s.blobs.purged.Add(float64(n))
		s.log.Info("purged expired blobs", "blobs", n)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("blob purge failed", "err", err)
	}
}

// handleBlob serves /petrel/blob/1.0.0: an uploader session (Auth first: a registered
// owner, proven over this connection's peer key, may then put, get and ask), or a reader's
// gets and has requests (anyone who holds a blob id).
func (s *Server) handleBlob(c *streamIO) {
	body, err := c.read()
	if err != nil {
		s.readFailed(c, err)
		return
	}
	var uploader []byte
	switch relaywire.Type(body) {
	case relaywire.TypeAuth:
		_, mb, ok := s.authenticateAs(c, body, false)
		if !ok {
			return
		}
		uploader = mb
		if body, err = c.read(); err != nil {
			s.readFailed(c, err)
			return
		}
	case relaywire.TypeBlobGet, relaywire.TypeBlobHas:
	case relaywire.TypeBlobPut:
		s.refuse(c, relaywire.CodeNotRegistered, "only a registered node may upload blobs: authenticate first")
		return
	default:
		s.refuse(c, relaywire.CodeBadRequest, "a blob stream starts with an auth, get or has frame")
		return
	}
	for {
		var ok bool
		switch relaywire.Type(body) {
		case relaywire.TypeBlobPut:
			ok = s.blobPut(c, uploader, body)
		case relaywire.TypeBlobGet:
			ok = s.blobGet(c, body)
		case relaywire.TypeBlobHas:
			ok = s.blobHas(c, body)
		default:
			s.refuse(c, relaywire.CodeBadRequest, "expected a blob put, get or has frame")
			return
		}
		if !ok {
			return
		}
		c.extend()
		if body, err = c.read(); err != nil {
			s.readFailed(c, err)
			return
		}
	}
}

// blobPut receives one upload: BlobPut ▶ ◀ BlobStat (present: held already, refreshed;
// else send), BlobData… ▶ ◀ Result. ok is false when the stream has ended.
func (s *Server) blobPut(c *streamIO, uploader []byte, body []byte) bool {
	cfg := &s.cfg.Blobs
	if uploader == nil {
		s.refuse(c, relaywire.CodeNotRegistered, "only a registered node may upload blobs: authenticate first")
		return false
	}
	p, err := relaywire.ParseBlobPut(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "malformed blob put")
		return false
	}
	if !relaywire.ValidBlobSize(p.Size) || p.Size > cfg.MaxBlobBytes {
		s.refuse(c, relaywire.CodeBlobSize, fmt.Sprintf("a blob of %d bytes: sizes are powers of two from %d to %d bytes; pad the blob", p.Size, relaywire.MinBlobSize, cfg.MaxBlobBytes))
		return false
	}
	now := s.now()
	if !s.blobs.putRate.allow(string(uploader), now) {
		s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("this uploader stores more than %g blobs per second", cfg.PutRate))
		return false
	}
	q := s.blobQuota()
	if info, err := s.store.StatBlob(p.ID, now); err == nil && info.Size == p.Size {
		if err := s.store.TouchBlob(s.ctx, p.ID, now, q); err == nil {
			s.blobs.puts.Inc()
			return c.send(relaywire.AppendBlobStat(nil, relaywire.BlobStat{Present: true, Size: info.Size, ExpiresAt: now.Add(q.TTL).UnixMilli()})) == nil
		}
		// Expired or purged meanwhile: take the bytes.
	}
	_, held, err := s.store.BlobUsage(uploader)
	if err != nil {
		s.log.Error("blob usage lookup failed", "err", err)
		s.refuse(c, relaywire.CodeUnavailable, "the relay cannot store blobs right now")
		return false
	}
	if q.MaxBytes > 0 && held+int64(p.Size) > q.MaxBytes {
		s.refuse(c, relaywire.CodeQuotaBytes, fmt.Sprintf("this uploader's blobs are at their quota (%d of %d bytes)", held, q.MaxBytes))
		return false
	}
	if cfg.MaxTotalBytes > 0 && s.store.BlobStats().Bytes+int64(p.Size) > cfg.MaxTotalBytes {
		s.refuse(c, relaywire.CodeUnavailable, "the relay's blob store is full")
		return false
	}
	if err := c.st.Scope().ReserveMemory(p.Size, network.ReservationPriorityMedium); err != nil {
		s.refuse(c, relaywire.CodeUnavailable, "the relay is short of memory for uploads; retry later")
		return false
	}
	defer c.st.Scope().ReleaseMemory(p.Size)
	if err := c.send(relaywire.AppendBlobStat(nil, relaywire.BlobStat{})); err != nil {
		c.st.Reset()
		return false
	}
	// The bytes, hashed as they arrive, held until they are whole and verified, within
	// one deadline for the whole transfer.
	c.st.SetDeadline(s.transferDeadline(p.Size))
	data := make([]byte, 0, p.Size)
	h := sha256.New()
	s.blobs.receiving.Add(1)
	defer func() {
		s.blobs.receiving.Add(-1)
		s.blobs.receivingBytes.Add(-int64(len(data)))
	}()
	for len(data) < p.Size {
		body, err := c.read()
		if err != nil {
			s.readFailed(c, err)
			return false
		}
		chunk, err := relaywire.ParseBlobData(body)
		if err != nil || len(data)+len(chunk) > p.Size {
			s.refuse(c, relaywire.CodeBadRequest, fmt.Sprintf("expected blob data, %d bytes in all", p.Size))
			return false
		}
		h.Write(chunk)
		data = append(data, chunk...)
		s.blobs.receivingBytes.Add(int64(len(chunk)))
	}
	if relaywire.BlobID(h.Sum(nil)) != p.ID {
		s.refuse(c, relaywire.CodeBlobMismatch, "the bytes do not hash to the blob id (SHA-256)")
		return false
	}
	stored, err := s.store.PutBlob(s.ctx, uploader, p.ID, data, now, q)
	switch {
	case err == nil:
	case errors.Is(err, relaystore.ErrBlobQuota):
		s.refuse(c, relaywire.CodeQuotaBytes, fmt.Sprintf("this uploader's blobs are at their quota (%d bytes)", q.MaxBytes))
		return false
	case errors.Is(err, relaystore.ErrBlobSize):
		s.refuse(c, relaywire.CodeBlobSize, "the blob size is not a padding bucket")
		return false
	case errors.Is(err, relaystore.ErrBlobMismatch):
		s.refuse(c, relaywire.CodeBlobMismatch, "the bytes do not hash to the blob id (SHA-256)")
		return false
	default:
		s.log.Error("blob put failed", "err", err)
		s.refuse(c, relaywire.CodeUnavailable, "the relay cannot store blobs right now")
		return false
	}
	s.blobs.puts.Inc()
	if stored {
		s.blobs.stored.Inc()
		s.blobs.putBytes.Add(float64(p.Size))
	}
	return c.send(relaywire.AppendResult(nil, relaywire.Result{Code: relaywire.OK})) == nil
}

// stat answers what the store holds of id (absent on any failure but a store error).
func (s *Server) blobStat(c *streamIO, id relaywire.BlobID) (relaywire.BlobStat, bool) {
	info, err := s.store.StatBlob(id, s.now())
	switch {
	case err == nil:
		return relaywire.BlobStat{Present: true, Size: info.Size, ExpiresAt: info.ExpiresAt}, true
	case errors.Is(err, relaystore.ErrBlobNotFound):
		return relaywire.BlobStat{}, true
	}
	s.log.Error("blob stat failed", "err", err)
	s.refuse(c, relaywire.CodeUnavailable, "the relay cannot read blobs right now")
	return relaywire.BlobStat{}, false
}

// blobHas answers BlobHas ▶ ◀ BlobStat.
func (s *Server) blobHas(c *streamIO, body []byte) bool {
	id, err := relaywire.ParseBlobHas(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "malformed blob has")
		return false
	}
	if !s.blobs.getRate.allow(string(c.st.Conn().RemotePeer()), s.now()) {
		s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("more than %g blob requests per second from this peer", s.cfg.Blobs.GetRate))
		return false
	}
	st, ok := s.blobStat(c, id)
	if !ok {
		return false
	}
	s.blobs.has.Inc()
	return c.send(relaywire.AppendBlobStat(nil, st)) == nil
}

// blobGet answers BlobGet ▶ ◀ BlobStat, then (when present) the range, cut at the blob's
// end, as BlobData frames.
func (s *Server) blobGet(c *streamIO, body []byte) bool {
	g, err := relaywire.ParseBlobGet(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "malformed blob get")
		return false
	}
	if !s.blobs.getRate.allowN(string(c.st.Conn().RemotePeer()), s.now(), getCost(g.Length)) {
		s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("more than %g blob requests (of 64 KiB) per second from this peer", s.cfg.Blobs.GetRate))
		return false
	}
	st, ok := s.blobStat(c, g.ID)
	if !ok {
		return false
	}
	if !st.Present {
		return c.send(relaywire.AppendBlobStat(nil, st)) == nil
	}
	if g.Offset >= st.Size {
		s.refuse(c, relaywire.CodeBadRequest, fmt.Sprintf("offset %d beyond a blob of %d bytes", g.Offset, st.Size))
		return false
	}
	g.Length = min(g.Length, st.Size-g.Offset) // a range past the end stops there
	if err := c.st.Scope().ReserveMemory(g.Length, network.ReservationPriorityMedium); err != nil {
		s.refuse(c, relaywire.CodeUnavailable, "the relay is short of memory for downloads; retry later")
		return false
	}
	defer c.st.Scope().ReleaseMemory(g.Length)
	data, err := s.store.ReadBlob(g.ID, g.Offset, g.Length, s.now())
	if errors.Is(err, relaystore.ErrBlobNotFound) {
		return c.send(relaywire.AppendBlobStat(nil, relaywire.BlobStat{})) == nil // purged meanwhile
	}
	if err != nil {
		s.log.Error("blob read failed", "err", err)
		s.refuse(c, relaywire.CodeUnavailable, "the relay cannot read blobs right now")
		return false
	}
	if err := relaywire.WriteFrame(c.w, relaywire.AppendBlobStat(nil, st)); err != nil {
		c.st.Reset()
		return false
	}
	c.st.SetDeadline(s.transferDeadline(len(data)))
	buf := make([]byte, 0, 1+relaywire.MaxBlobData)
	for off := 0; off < len(data); off += relaywire.MaxBlobData {
		buf = relaywire.AppendBlobData(buf[:0], data[off:min(off+relaywire.MaxBlobData, len(data))])
		if err := relaywire.WriteFrame(c.w, buf); err != nil {
			c.st.Reset()
			return false
		}
	}
	if err := c.w.Flush(); err != nil {
		c.st.Reset()
		return false
	}
	s.blobs.gets.Inc()
	s.blobs.getBytes.Add(float64(len(data)))
	return true
}
