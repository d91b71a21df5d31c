package media

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/media/blobdir"
	"github.com/petrel-chat/petrel/node/store"
)

const benchSize = 64 << 20

// badgerBlobs keeps chunk ciphertexts as records of the node's Badger store: the
// alternative the blob directory was chosen over (BENCHMARKS.md, "Media").
type badgerBlobs struct{ db *store.Store }

func (b badgerBlobs) put(ctx context.Context, h Hash, data []byte) error {
	return b.db.Update(ctx, func(tx *store.Tx) error { return tx.Set([]byte("bench/"+h.String()), data) })
}

func (b badgerBlobs) get(h Hash) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Get([]byte("bench/" + h.String()))
		return err
	})
	if err == nil && sha256.Sum256(out) != h {
		err = errors.New("hash mismatch")
	}
	return out, err
}

// BenchmarkChunkStorage compares, on one 64 MiB file, sealing and opening alone (raw AEAD)
// with sealing + storing and reading + verifying + opening in the blob directory and in
// Badger. Every stored chunk is durable before the next (fsync; Badger's SyncWrites).
func BenchmarkChunkStorage(b *testing.B) {
	data := randomBytes(1, benchSize)
	var id FileID
	c, _ := newFileCipher(id, randomBytes(2, keySize))
	n := chunkCount(benchSize)
	seal := func(i int, dst []byte) []byte {
		return c.seal(dst[:0], data[i*ChunkSize:min((i+1)*ChunkSize, benchSize)], i, i == n-1)
	}
	openAll := func(b *testing.B, get func(i int) ([]byte, error)) {
		var pt []byte
		for i := range n {
			ct, err := get(i)
			if err != nil {
				b.Fatal(err)
			}
			if pt, err = c.open(pt[:0], ct, i, i == n-1); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("aead-seal", func(b *testing.B) {
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			for i := range n {
				buf = seal(i, buf)
				_ = sha256.Sum256(buf)
			}
		}
	})
	sealed := make([][]byte, n)
	hashes := make([]Hash, n)
	for i := range n {
		sealed[i] = seal(i, nil)
		hashes[i] = sha256.Sum256(sealed[i])
	}
	b.Run("aead-open", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			openAll(b, func(i int) ([]byte, error) {
				if sha256.Sum256(sealed[i]) != hashes[i] {
					return nil, errors.New("hash")
				}
				return sealed[i], nil
			})
		}
	})
	b.Run("dir-write-sync-each", func(b *testing.B) {
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			d, _ := blobdir.Open(b.TempDir(), SealedChunkSize)
			for i := range n {
				buf = seal(i, buf)
				if err := d.Put(sha256.Sum256(buf), buf); err != nil {
					b.Fatal(err)
				}
				if err := d.SyncDir(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("dir-write", func(b *testing.B) {
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			d, _ := blobdir.Open(b.TempDir(), SealedChunkSize)
			for i := range n {
				buf = seal(i, buf)
				if err := d.Put(sha256.Sum256(buf), buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := d.SyncDir(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dir-read", func(b *testing.B) {
		d, _ := blobdir.Open(b.TempDir(), SealedChunkSize)
		for i := range n {
			d.Put(hashes[i], sealed[i])
		}
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			openAll(b, func(i int) ([]byte, error) {
				var err error
				buf, err = d.Get(hashes[i], buf)
				return buf, err
			})
		}
	})
	newDB := func(b *testing.B) badgerBlobs {
		db, err := store.Create(filepath.Join(b.TempDir(), "s"), []byte(testPass), store.Options{GCInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return badgerBlobs{db}
	}
	b.Run("badger-write", func(b *testing.B) {
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			b.StopTimer()
			db := newDB(b)
			b.StartTimer()
			for i := range n {
				buf = seal(i, buf)
				if err := db.put(context.Background(), sha256.Sum256(buf), buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("badger-read", func(b *testing.B) {
		db := newDB(b)
		for i := range n {
			db.put(context.Background(), hashes[i], sealed[i])
		}
		b.SetBytes(benchSize)
		for b.Loop() {
			openAll(b, func(i int) ([]byte, error) { return db.get(hashes[i]) })
		}
	})
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct {
	n, off int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range k {
		x := uint64(p.off + i)
		b[i] = byte(x ^ x>>8 ^ x>>19 ^ x*0x9E37)
	}
	p.off += k
	return int(k), nil
}

// BenchmarkMediaPipeline measures, on one 64 MiB file, Put, node-to-node transfer on
// loopback and Open+read, beside a raw libp2p stream between the same hosts and raw AEAD.
func BenchmarkMediaPipeline(b *testing.B) {
	outer := b
	s := newSender(b)
	r := newTestStore(b, Options{})
	rh := newHost(b)
	s.members[rh.ID()] = true
	connect(b, rh, s.h)
	ctx := context.Background()

	b.Run("raw-aead", func(b *testing.B) {
		var id FileID
		c, _ := newFileCipher(id, randomBytes(2, keySize))
		chunk := randomBytes(3, ChunkSize)
		b.SetBytes(benchSize)
		var buf []byte
		for b.Loop() {
			for i := range chunkCount(benchSize) {
				buf = c.seal(buf[:0], chunk, i, false)
			}
		}
	})
	b.Run("raw-stream", func(b *testing.B) {
		const proto = "/petrel/bench-raw/1"
		s.h.SetStreamHandler(proto, func(st network.Stream) {
			st.Scope().ReserveMemory(1<<20, network.ReservationPriorityAlways)
			defer st.Scope().ReleaseMemory(1 << 20)
			w := bufio.NewWriterSize(st, 64<<10)
			io.Copy(w, &patternReader{n: benchSize})
			w.Flush()
			st.Close()
		})
		defer s.h.RemoveStreamHandler(proto)
		b.SetBytes(benchSize)
		for b.Loop() {
			st, err := rh.NewStream(ctx, s.h.ID(), protocol.ID(proto))
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, st); err != nil || n != benchSize {
				b.Fatalf("%d %v", n, err)
			}
			st.Close()
		}
	})
	var sent Attachment
	b.Run("put", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			var err error
			if sent, err = s.Put(ctx, &patternReader{n: benchSize}, "f.bin", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	var mf Manifest
	s.db.Update(ctx, func(tx *store.Tx) error {
		Ref(tx, sent.MediaID, "msg1")
		var err error
		mf, err = s.Manifest(tx, sent.MediaID)
		return err
	})
	var recv *testStore
	var recvID string
	b.Run("transfer", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			b.StopTimer()
			recv = newTestStore(outer, Options{}) // kept open for open-read
			id, err := recv.Add(ctx, mf)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := recv.Download(ctx, id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil); err != nil {
				b.Fatal(err)
			}
			recvID = id
		}
	})
	b.Run("open-read", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			rd, err := recv.Open(recvID)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, rd); err != nil || n != benchSize {
				b.Fatalf("%d %v", n, err)
			}
		}
	})
	_ = r
}

// BenchmarkRSS100MiB reports how much the process's peak RSS grows while putting a
// 100 MiB file, transferring it to another node, and reading it back (run with -benchtime 1x).
func BenchmarkRSS100MiB(b *testing.B) {
	const size = 100 << 20
	s := newSender(b)
	rh := newHost(b)
	s.members[rh.ID()] = true
	connect(b, rh, s.h)
	ctx := context.Background()
	for b.Loop() {
		r := newTestStore(b, Options{}) // a fresh receiver: each round downloads
		base := resetPeakRSS(b)
		a, err := s.Put(ctx, &patternReader{n: size}, "big.bin", "")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rssKiB(b, "VmHWM")-base)/1024, "put-MiB")
		var mf Manifest
		s.db.Update(ctx, func(tx *store.Tx) error {
			Ref(tx, a.MediaID, "msg1")
			mf, err = s.Manifest(tx, a.MediaID)
			return err
		})
		id, err := r.Add(ctx, mf)
		if err != nil {
			b.Fatal(err)
		}
		base = resetPeakRSS(b)
		if _, err := r.Download(ctx, id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rssKiB(b, "VmHWM")-base)/1024, "transfer-MiB")
		base = resetPeakRSS(b)
		rd, err := r.Open(id)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, rd)
		b.ReportMetric(float64(rssKiB(b, "VmHWM")-base)/1024, "read-MiB")
		if fmt.Sprintf("%x", h.Sum(nil)) != a.SHA256 {
			b.Fatal("read back differs")
		}
	}
}

// rssKiB reads a field of /proc/self/status in KiB.
func rssKiB(b testing.TB, field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("reading /proc/self/status (RSS measurement needs Linux): %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeakRSS lowers VmHWM to the current RSS (Linux: write 5 to clear_refs).
func resetPeakRSS(b testing.TB) int64 {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("resetting the peak RSS: %v", err)
	}
	return rssKiB(b, "VmRSS")
}
