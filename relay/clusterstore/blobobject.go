package clusterstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Blob objects are written and read here, in the JetStream Object Store's layout (chunks
// on $O.BUCKET.C.NUID, then a meta message on $O.BUCKET.M.NAME that rolls up the last
// one), not by the jetstream client's ObjectStore.Put. That Put publishes every chunk from
// one reused message and buffer, and retries a chunk the stream answered "no responders"
// (as it does while electing a leader) 250 ms later from that message, which by then
// holds a later chunk: it reports success for an object whose chunks are out of order and
// partly another chunk's bytes (TestBlobObjectWrittenThroughALeaderlessMoment). Here each
// chunk is its own message, published once, and the meta message goes out only after
// every chunk is acknowledged in order; then the object is read back at the stream leader
// and hashed before its record is written (PutBlob). A reader hashes an object whole
// before serving a byte of it, once per object per process.

// objChunkSize is the size of an object's chunks (the Object Store's default).
const objChunkSize = 128 << 10

// maxVerified bounds the objects a process remembers as verified.
const maxVerified = 16384

// errBlobCorrupt is an object that, read whole at its stream's leader, is absent or does
// not hash to its blob id.
var errBlobCorrupt = errors.New("clusterstore: blob object is missing or does not hash to its id")

// verifiedObjects are the objects this process has read whole and found to hash to their
// blob ids: blob id → the object's NUID. The chunks of one NUID never change (a rewrite
// puts them under a new NUID), so a range of a verified NUID is served as read.
type verifiedObjects struct {
	mu sync.Mutex
	m  map[relaywire.BlobID]string
}

func (v *verifiedObjects) get(id relaywire.BlobID) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[id]
}

func (v *verifiedObjects) put(id relaywire.BlobID, nuid string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[relaywire.BlobID]string{}
	}
	if _, ok := v.m[id]; !ok && len(v.m) >= maxVerified {
		for k := range v.m { // forget any one: it is verified again when read
			delete(v.m, k)
			break
		}
	}
	v.m[id] = nuid
}

func (v *verifiedObjects) forget(id relaywire.BlobID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, id)
}

func (s *Store) chunkSubject(nuid string) string { return "$O." + s.blob.objBucket + ".C." + nuid }

func (s *Store) metaSubject(id relaywire.BlobID) string {
	return "$O." + s.blob.objBucket + ".M." + base64.URLEncoding.EncodeToString([]byte(blobKey(id)))
}

// putObject writes r's bytes as blob id's object, then reads it back at the stream leader:
// nil only when the object the cluster now holds under id is size bytes hashing to id.
func (s *Store) putObject(ctx context.Context, id relaywire.BlobID, r io.Reader, size int) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Duration(s.cfg.Timeout))
	defer cancel()
	if err := s.writeObject(ctx, id, r); err != nil {
		return err
	}
	if _, err := s.leaderObject(ctx, id, size); err != nil {
		return fmt.Errorf("clusterstore: blob object read back: %w", err)
	}
	return nil
}

// writeObject publishes r's bytes as chunks under a fresh NUID, each acknowledged (by a
// quorum) in the order sent, then the meta message naming them; then it purges the chunks
// of the object it replaced. On a failure it purges the new chunks (the meta message is
// not sent, so nothing names them).
func (s *Store) writeObject(ctx context.Context, id relaywire.BlobID, r io.Reader) error {
	old, err := s.blob.obj.GetInfo(ctx, blobKey(id))
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("clusterstore: blob object: %w", err)
	}
	var nb [12]byte
	rand.Read(nb[:])
	nuid := hex.EncodeToString(nb[:])
	subj := s.chunkSubject(nuid)
	fail := func(err error) error {
		pctx, cancel := context.WithTimeout(s.ctx, time.Duration(s.cfg.Timeout))
		defer cancel()
		if perr := s.blob.objStream.Purge(pctx, jetstream.WithPurgeSubject(subj)); perr != nil {
			s.log.Warn("purging a failed upload's chunks (they expire with the stream's MaxAge)", "err", perr)
		}
		return fmt.Errorf("clusterstore: blob object: %w", err)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: blobKey(id), Opts: &jetstream.ObjectMetaOptions{ChunkSize: objChunkSize}},
		Bucket:     s.blob.objBucket, NUID: nuid,
	}
	h := sha256.New()
	var acks []jetstream.PubAckFuture
	for {
		buf := make([]byte, objChunkSize) // its own buffer: the client keeps the message until acknowledged
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			// No client retry: a chunk refused during an election fails the upload, which
			// the caller retries whole (a later retry would land out of order).
			f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: buf[:n]}, jetstream.WithRetryAttempts(0))
			if err != nil {
				return fail(err)
			}
			acks = append(acks, f)
			info.Size += uint64(n)
			info.Chunks++
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	last := uint64(0)
	for i, f := range acks {
		select {
		case a := <-f.Ok():
			if a.Sequence <= last {
				return fail(fmt.Errorf("chunk %d stored at %d, before chunk %d at %d", i, a.Sequence, i-1, last))
			}
			last = a.Sequence
		case err := <-f.Err():
			return fail(fmt.Errorf("chunk %d: %w", i, err))
		case <-ctx.Done():
			return fail(fmt.Errorf("chunk %d: %w", i, ctx.Err()))
		}
	}
	info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil))
	mm := nats.NewMsg(s.metaSubject(id))
	mm.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if mm.Data, err = json.Marshal(info); err != nil {
		return fail(err)
	}
	if _, err := s.js.PublishMsg(ctx, mm); err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}
	if old != nil && old.NUID != nuid {
		if err := s.blob.objStream.Purge(ctx, jetstream.WithPurgeSubject(s.chunkSubject(old.NUID))); err != nil {
			s.log.Warn("purging a rewritten blob's old chunks (they expire with the stream's MaxAge)", "err", err)
		}
	}
	return nil
}

// chunkGetter reads the first message at or after seq on subj: its sequence and data;
// jetstream.ErrMsgNotFound when there is none.
type chunkGetter func(ctx context.Context, seq uint64, subj string) (uint64, []byte, error)

// directChunk reads from any replica (direct get), which may lag behind the leader.
func (s *Store) directChunk(ctx context.Context, seq uint64, subj string) (uint64, []byte, error) {
	m, err := s.blob.objStream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
	if err != nil {
		return 0, nil, err
	}
	return m.Sequence, m.Data, nil
}

// leaderChunk reads from the object stream's leader.
func (s *Store) leaderChunk(ctx context.Context, seq uint64, subj string) (uint64, []byte, error) {
	m, err := s.leaderMsg(ctx, "OBJ_"+s.blob.objBucket, map[string]any{"seq": seq, "next_by_subj": subj})
	if err != nil {
		return 0, nil, err
	}
	return m.seq, m.data, nil
}

// readChunks reads info's object whole, its chunks in stream order (the order they were
// acknowledged in): jetstream.ErrObjectNotFound when a chunk is not (yet, or any more)
// there; errBlobCorrupt when the chunks do not add up to the object's size.
func readChunks(ctx context.Context, get chunkGetter, subj string, info *jetstream.ObjectInfo) ([]byte, error) {
	out := make([]byte, 0, info.Size)
	seq := uint64(1)
	for i := uint32(0); i < info.Chunks; i++ {
		at, d, err := get(ctx, seq, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, jetstream.ErrObjectNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("clusterstore: blob object chunk %d: %w", i, err)
		}
		if uint64(len(out)+len(d)) > info.Size {
			return nil, fmt.Errorf("%w: chunks beyond its %d bytes", errBlobCorrupt, info.Size)
		}
		out = append(out, d...)
		seq = at + 1
	}
	if uint64(len(out)) != info.Size {
		return nil, fmt.Errorf("%w: %d chunks of %d bytes for %d", errBlobCorrupt, info.Chunks, len(out), info.Size)
	}
	return out, nil
}

// checkObject checks a whole object read for id: size bytes hashing to id.
func checkObject(id relaywire.BlobID, size int, data []byte) error {
	if len(data) != size {
		return fmt.Errorf("%w: %d bytes, its record says %d", errBlobCorrupt, len(data), size)
	}
	if relaywire.BlobIDOf(data) != id {
		return fmt.Errorf("%w: SHA-256 differs", errBlobCorrupt)
	}
	return nil
}

// leaderObject reads blob id's object whole at the object stream's leader and checks it:
// the bytes; errBlobCorrupt when the leader holds no object for id, or one with a chunk
// missing, or one that is not size bytes hashing to id; jetstream.ErrObjectNotFound when
// a rewrite replaced the object while it was read (read again).
func (s *Store) leaderObject(ctx context.Context, id relaywire.BlobID, size int) ([]byte, error) {
	info, err := s.leaderMeta(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Size != uint64(size) {
		return nil, fmt.Errorf("%w: an object of %d bytes, its record says %d", errBlobCorrupt, info.Size, size)
	}
	data, err := readChunks(ctx, s.leaderChunk, s.chunkSubject(info.NUID), info)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		// Chunks are purged only after a newer meta message names new ones (or the object
		// is deleted): with the meta unchanged, the object is truncated.
		again, merr := s.leaderMeta(ctx, id)
		if merr != nil {
			return nil, merr
		}
		if again.NUID == info.NUID {
			return nil, fmt.Errorf("%w: a chunk of its %d is missing", errBlobCorrupt, info.Chunks)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if err := checkObject(id, size, data); err != nil {
		return nil, err
	}
	s.blob.verified.put(id, info.NUID)
	return data, nil
}

// leaderMeta reads blob id's object meta at the object stream's leader; errBlobCorrupt
// when there is none (or it is deleted or unreadable).
func (s *Store) leaderMeta(ctx context.Context, id relaywire.BlobID) (*jetstream.ObjectInfo, error) {
	m, err := s.leaderMsg(ctx, "OBJ_"+s.blob.objBucket, map[string]any{"last_by_subj": s.metaSubject(id)})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: no object", errBlobCorrupt)
	}
	if err != nil {
		return nil, err
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.data, &info); err != nil {
		return nil, fmt.Errorf("%w: meta: %v", errBlobCorrupt, err)
	}
	if info.Deleted {
		return nil, fmt.Errorf("%w: object deleted", errBlobCorrupt)
	}
	return &info, nil
}

// verifiedRange returns n bytes from off of blob id (size bytes by its record), from an
// object this process has verified whole: ranges of a verified object are read from any
// replica; an object not verified yet is read whole and hashed first, at any replica, and
// at the leader when that replica's copy is missing, incomplete or does not check.
// jetstream.ErrObjectNotFound: replaced meanwhile, read again; errBlobCorrupt: the
// leader's copy is bad.
func (s *Store) verifiedRange(ctx context.Context, id relaywire.BlobID, size, off, n int) ([]byte, error) {
	info, err := s.blob.obj.GetInfo(ctx, blobKey(id))
	switch {
	case err == nil && info.Size == uint64(size) && info.NUID == s.blob.verified.get(id):
		out, err := s.readObject(ctx, info, off, n)
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return out, err
		}
	case err == nil:
		data, err := readChunks(ctx, s.directChunk, s.chunkSubject(info.NUID), info)
		if err == nil && checkObject(id, size, data) == nil {
			s.blob.verified.put(id, info.NUID)
			return data[off : off+n], nil
		}
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) && !errors.Is(err, errBlobCorrupt) {
			return nil, err
		}
	case !errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("clusterstore: blob object: %w", err)
	}
	// This replica's copy is missing, behind, or does not check: the leader's decides.
	data, err := s.leaderObject(ctx, id, size)
	if err != nil {
		return nil, err
	}
	return data[off : off+n], nil
}

// dropCorrupt deletes blob id's record (at revision rev) and object after its object was
// found missing or corrupt at the leader, so the next upload stores the bytes again;
// the result is ErrBlobNotFound.
func (s *Store) dropCorrupt(ctx context.Context, id relaywire.BlobID, info relaystore.BlobInfo, rev uint64, why error) error {
	s.log.Error("a blob's object is missing or corrupt: dropping its record so the next upload stores it again",
		"blob", blobKey(id), "err", why)
	s.blob.verified.forget(id)
	if _, err := s.deleteBlob(ctx, id, info, rev); err != nil {
		return err
	}
	return fmt.Errorf("%w: %v", relaystore.ErrBlobNotFound, why)
}

// streamMsg is a stream message read at its leader.
type streamMsg struct {
	seq  uint64
	hdr  []byte
	data []byte
}

// leaderMsg asks stream's leader for a message (req is a STREAM.MSG.GET request: seq and
// next_by_subj, or last_by_subj); jetstream.ErrMsgNotFound when there is none.
func (s *Store) leaderMsg(ctx context.Context, stream string, req map[string]any) (streamMsg, error) {
	body, _ := json.Marshal(req)
	ctx, cancel := s.req(ctx)
	defer cancel()
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return streamMsg{}, fmt.Errorf("clusterstore: read %s: %w", stream, err)
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error,omitempty"`
		Message *struct {
			Seq    uint64 `json:"seq"`
			Header []byte `json:"hdrs,omitempty"`
			Data   []byte `json:"data,omitempty"`
		} `json:"message,omitempty"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return streamMsg{}, fmt.Errorf("clusterstore: read %s: %w", stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return streamMsg{}, jetstream.ErrMsgNotFound
		}
		return streamMsg{}, fmt.Errorf("clusterstore: read %s: %w", stream, resp.Error)
	}
	if resp.Message == nil {
		return streamMsg{}, jetstream.ErrMsgNotFound
	}
	return streamMsg{seq: resp.Message.Seq, hdr: resp.Message.Header, data: resp.Message.Data}, nil
}
