package relayserver_test

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// BenchmarkBlobPutGet: 4 MiB blobs uploaded to, then fetched whole (verified) from, one
// relay on its Badger store over loopback TCP (MB/s is per direction).
func BenchmarkBlobPutGet(b *testing.B) {
	cfg := testConfig()
	cfg.Blobs.MaxBytesPerUploader = 0
	cfg.Blobs.PutRate, cfg.Blobs.GetRate = 0, 0
	r := startRelay(b, cfg)
	u := newUser(b)
	h := newNode(b, r)
	register(b, h, r, u)
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
	b.Run("get", func(b *testing.B) {
		b.SetBytes(int64(len(blob)))
		for b.Loop() {
			if _, err := mailboxclient.GetBlob(ctx, h, r.id(), id, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
