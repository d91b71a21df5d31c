package clusterstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// blipReader hands out its data 128 KiB (one object chunk) at a time and calls before(i)
// before it hands out piece i, on the goroutine that reads: the writer's own pace, so
// what before does happens between two chunk publishes, in order on the connection.
type blipReader struct {
	data   []byte
	i      int
	before func(i int)
}

func (r *blipReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.before(r.i)
	n := copy(p[:min(len(p), objChunkSize)], r.data)
	r.data, r.i = r.data[n:], r.i+1
	return n, nil
}

// noResponders makes the object stream stop (off) or start again taking chunk subjects: a
// chunk published meanwhile is answered "no responders" (503), as while the stream elects
// a new leader after a SIGKILL.
func noResponders(t *testing.T, s *Store, off bool) {
	t.Helper()
	info, err := s.blob.objStream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	chunks := "$O." + s.blob.objBucket + ".C.>"
	cfg.Subjects = slices.DeleteFunc(cfg.Subjects, func(v string) bool { return v == chunks })
	if !off {
		cfg.Subjects = append(cfg.Subjects, chunks)
	}
	if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// heldObject reads what the object store holds under id, chunk by chunk in stream order
// (as a reader of the object does), at any replica.
func heldObject(t *testing.T, s *Store, id relaywire.BlobID) []byte {
	t.Helper()
	info, err := s.blob.obj.GetInfo(ctx, blobKey(id))
	if err != nil {
		t.Fatalf("the object: %v", err)
	}
	data, err := readChunks(ctx, s.directChunk, s.chunkSubject(info.NUID), info)
	if err != nil {
		t.Fatalf("the object's chunks: %v", err)
	}
	return data
}

// TestBlobObjectWrittenThroughALeaderlessMoment: the object stream answers one chunk
// "no responders" mid-upload (what a leader election after a SIGKILL does). The upload
// either fails, or what the cluster then holds under the blob's id is its bytes; then an
// upload after the blip is stored and read whole. (The jetstream client's own
// ObjectStore.Put does neither: it republishes the refused chunk 250 ms later from a
// message it has meanwhile refilled with a later chunk, stored after the meta message, and
// reports success for an object whose third chunk is a second copy of its eighth.)
func TestBlobObjectWrittenThroughALeaderlessMoment(t *testing.T) {
	s := startCluster(t, 1)[0].store
	data, id := randomBlob(1 << 20) // eight chunks
	r := &blipReader{data: data, before: func(i int) {
		switch i {
		case 2:
			noResponders(t, s, true)
		case 3:
			noResponders(t, s, false)
		}
	}}
	if err := s.putObject(ctx, id, r, len(data)); err != nil {
		t.Logf("the upload through the blip failed, as it may: %v", err)
	} else if !bytes.Equal(heldObject(t, s, id), data) {
		t.Fatal("the upload succeeded but the object holds other bytes than the blob's")
	}
	if _, err := s.StatBlob(id, time.Now()); !errors.Is(err, relaystore.ErrBlobNotFound) {
		t.Fatalf("a record after the object write alone: %v", err)
	}
	if stored, err := s.PutBlob(ctx, uploader(1), id, data, time.Now(), blobQuota); err != nil || !stored {
		t.Fatalf("the upload after the blip: stored=%v %v", stored, err)
	}
	got, err := s.ReadBlob(id, 0, len(data), time.Now())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the read after the upload: %v (equal %v)", err, bytes.Equal(got, data))
	}
}

// plantBlob leaves in the cluster what a failed upload of data could have left: a record
// for id charged to uploader(1), and an object (from chunks, each published as given, and
// a meta message claiming data's size and digest), or no object when chunks is nil.
func plantBlob(t *testing.T, s *Store, id relaywire.BlobID, data []byte, chunks [][]byte, now time.Time) {
	t.Helper()
	if chunks != nil {
		nuid := "planted" + blobKey(id)[:16]
		for _, c := range chunks {
			if _, err := s.js.Publish(ctx, s.chunkSubject(nuid), c); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(data)
		info := jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Name: blobKey(id)}, Bucket: s.blob.objBucket,
			NUID: nuid, Size: uint64(len(data)), Chunks: uint32(len(data) / objChunkSize), Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])}
		mm := nats.NewMsg(s.metaSubject(id))
		mm.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		mm.Data, _ = json.Marshal(info)
		if _, err := s.js.PublishMsg(ctx, mm); err != nil {
			t.Fatal(err)
		}
	}
	rec := relaystore.BlobInfo{Size: len(data), StoredAt: now.UnixMilli(), ExpiresAt: now.Add(blobQuota.TTL).UnixMilli(), Uploader: uploader(1)}
	if _, err := s.blob.meta.Create(ctx, blobKey(id), relaystore.MarshalBlobInfo(rec)); err != nil {
		t.Fatal(err)
	}
	if err := s.chargeBlob(ctx, uploader(1), 1, int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// TestBlobRecordWithBadObjectIsNeverServed: a blob record whose object is what a
// SIGKILL or an election can leave (chunks out of order and one of them another's bytes,
// a chunk missing, no object at all) is never served and never merely renewed: a read
// answers "not found" (no byte of it), a re-upload of the bytes stores them again and is
// then read whole, and the uploader is charged for the blob once.
func TestBlobRecordWithBadObjectIsNeverServed(t *testing.T) {
	s := startCluster(t, 1)[0].store
	cut := func(d []byte) [][]byte {
		var out [][]byte
		for off := 0; off < len(d); off += objChunkSize {
			out = append(out, d[off:off+objChunkSize])
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		chunks func([][]byte) [][]byte
	}{
		{"reordered", func(c [][]byte) [][]byte { return append(slices.Concat(c[:2], c[3:]), c[len(c)-1]) }},
		{"truncated", func(c [][]byte) [][]byte { return c[:len(c)-1] }},
		{"absent", func([][]byte) [][]byte { return nil }},
	} {
		for _, path := range []string{"read", "upload"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				data, id := randomBlob(1 << 20)
				now := time.Now()
				plantBlob(t, s, id, data, tc.chunks(cut(data)), now)
				if path == "read" {
					got, err := s.ReadBlob(id, 0, len(data), now)
					if !errors.Is(err, relaystore.ErrBlobNotFound) {
						t.Fatalf("a read of the bad object: %v (%d bytes, equal %v)", err, len(got), bytes.Equal(got, data))
					}
					if _, err := s.StatBlob(id, now); !errors.Is(err, relaystore.ErrBlobNotFound) {
						t.Fatalf("the bad object's record is still there after the read: %v", err)
					}
				}
				stored, err := s.PutBlob(ctx, uploader(1), id, data, now, blobQuota)
				if err != nil || !stored {
					t.Fatalf("the re-upload: stored=%v %v", stored, err)
				}
				got, err := s.ReadBlob(id, 0, len(data), now)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("the read after the re-upload: %v (equal %v)", err, bytes.Equal(got, data))
				}
				part, err := s.ReadBlob(id, 300_000, 70_000, now)
				if err != nil || !bytes.Equal(part, data[300_000:370_000]) {
					t.Fatalf("a range after the re-upload: %v", err)
				}
				if !bytes.Equal(heldObject(t, s, id), data) {
					t.Fatal("the object after the re-upload holds other bytes")
				}
				if n, b, err := s.BlobUsage(uploader(1)); err != nil || n != 1 || b != int64(len(data)) {
					t.Fatalf("the uploader is charged %d blobs, %d bytes (%v), want 1 and %d", n, b, err, len(data))
				}
				if _, err := s.PurgeBlobs(ctx, now.Add(2*blobQuota.TTL)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
