package relayserver_test

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// BenchmarkBlobPutGet: 4 MiB blobs uploaded to, then fetched whole (verified) from, one
// relay on its Badger store over loopback TCP (MB/s is per direction).
// Measured (2 shared cores, other work running): put 49–108 MB/s, get 115–143 MB/s.
func BenchmarkBlobPutGet(b *testing.B) {
	cfg := testConfig()
	cfg.Blobs.MaxBytesPerUploader = 0
	cfg.Blobs.PutRate, cfg.Blobs.GetRate = 0, 0
	r := startRelay(b, cfg)
	benchBlobs(b, r, r)
}

// BenchmarkClusterBlobPutGet: the same against a 3-process JetStream cluster (3 replicas):
// uploads at one process, gets at another. Measured: put 11–19 MB/s (latency-bound: the
// CPU is mostly idle; each upload is an object-store put and four replicated bucket
// operations), get 72–88 MB/s.
func BenchmarkClusterBlobPutGet(b *testing.B) {
	cfg := testConfig()
	cfg.Blobs.MaxBytesPerUploader = 0
	cfg.Blobs.PutRate, cfg.Blobs.GetRate = 0, 0
	rs := startClusterRelays(b, 3, cfg)
	benchBlobs(b, rs[0], rs[1])
}

func benchBlobs(b *testing.B, up, down *testRelay) {
	u := newUser(b)
	h := newNode(b, up)
	register(b, h, up, u)
	r := up
	ctx := context.Background()
	blob := randomBytes(relaywire.MaxBlobSize)
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(len(blob)))
		for i := 0; b.Loop(); i++ {
			blob[0], blob[1], blob[2] = byte(i), byte(i>>8), byte(i>>16) // a new blob each time
			if _, err := mailboxclient.PutBlob(ctx, h, r.id(), u.id, blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	id, err := mailboxclient.PutBlob(ctx, h, r.id(), u.id, blob)
	if err != nil {
		b.Fatal(err)
	}
	hd := newNode(b, down)
	b.Run("get", func(b *testing.B) {
		b.SetBytes(int64(len(blob)))
		for b.Loop() {
			if _, err := mailboxclient.GetBlob(ctx, hd, down.id(), id, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
