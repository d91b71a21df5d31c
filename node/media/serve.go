package media

import (
	"bufio"
	"errors"
	"io"
	"runtime/debug"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Media protocol implementation constants.
const (
	// mediaService is the resource-manager service of the media protocol.
	mediaService = "petrel.media"
	// streamMemory is what one media stream reserves: a chunk and its buffers.
	streamMemory = SealedChunkSize + 128<<10
	// requestTimeout bounds one request and its answer on either side.
	requestTimeout = 30 * time.Second
	// maxRequestFrame bounds a request frame (a request is 18–21 bytes).
	maxRequestFrame = 64
)

// FetchRequest is what an Authorizer decides on: a peer (proven by its libp2p key) asking
// for chunks of a file, with the local media ids on that file and the messages that refer
// to them (a thumbnail's are its media's).
type FetchRequest struct {
	Peer     peer.ID
	File     FileID
	MediaIDs []string
	Messages []string
}

// Authorizer says whether a peer may fetch a file. The node allows the members of the
// conversations of FetchRequest.Messages. It is called for unknown files too (with no
// media ids), so a refused peer cannot tell a file it may not have from one that is absent.
type Authorizer func(FetchRequest) bool

// Serve answers the media protocol on h for the peers auth allows, until the returned
// function is called (which removes the handler, resets the open streams and waits for
// their handlers).
func (m *Store) Serve(h host.Host, auth Authorizer) (stop func()) {
	h.SetStreamHandler(protocol.ID(wire.MediaProtocol), func(s network.Stream) { m.serveStream(s, auth) })
	return func() {
		h.RemoveStreamHandler(protocol.ID(wire.MediaProtocol))
		m.mu.Lock()
		m.stopping = true
		for s := range m.streams {
			s.Reset()
		}
		m.mu.Unlock()
		m.handlers.Wait()
		m.mu.Lock()
		m.stopping = false
		m.mu.Unlock()
	}
}

// track registers a served stream, unless Serve is stopping.
func (m *Store) track(s network.Stream) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return false
	}
	if m.streams == nil {
		m.streams = map[network.Stream]bool{}
	}
	m.streams[s] = true
	m.handlers.Add(1)
	return true
}

func (m *Store) untrack(s network.Stream) {
	m.mu.Lock()
	delete(m.streams, s)
	m.mu.Unlock()
	m.handlers.Done()
}

func (m *Store) serveStream(s network.Stream, auth Authorizer) {
	if !m.track(s) {
		s.Reset()
		return
	}
	defer m.untrack(s)
	defer func() {
		if v := recover(); v != nil {
			m.log.Error("media stream handler panicked (a bug)", "panic", v, "stack", string(debug.Stack()))
			s.Reset()
		}
	}()
	if err := s.Scope().SetService(mediaService); err != nil {
		s.Reset()
		return
	}
	if err := s.Scope().ReserveMemory(streamMemory, network.ReservationPriorityMedium); err != nil {
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(streamMemory)
	br := bufio.NewReaderSize(s, 512)
	bw := bufio.NewWriterSize(s, 64<<10)
	from := s.Conn().RemotePeer()
	allowed := map[FileID]bool{}
	var buf []byte
	for {
		s.SetDeadline(time.Now().Add(requestTimeout))
		body, err := readRequestFrame(br)
		if errors.Is(err, io.EOF) {
			s.Close()
			return
		}
		if err != nil {
			s.Reset()
			return
		}
		req, err := wire.ParseChunkRequest(body)
		if err != nil {
			s.Reset()
			return
		}
		var resp wire.ChunkResponse
		resp, buf = m.answer(from, req, auth, allowed, buf)
		if err := wire.WriteChunkResponse(bw, resp); err != nil {
			s.Reset()
			return
		}
		if err := bw.Flush(); err != nil {
			s.Reset()
			return
		}
	}
}

func readRequestFrame(br *bufio.Reader) ([]byte, error) {
	n, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxRequestFrame {
		return nil, wire.ErrMediaMalformed
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return b, nil
}

// answer reads one chunk for a peer, if auth allows it (decided once per file per stream).
func (m *Store) answer(from peer.ID, req wire.ChunkRequest, auth Authorizer, allowed map[FileID]bool, buf []byte) (wire.ChunkResponse, []byte) {
	fid := FileID(req.File)
	var f *fileRecord
	fr := FetchRequest{Peer: from, File: fid}
	err := m.db.View(func(tx *store.Tx) error {
		var err error
		if f, err = m.getFile(tx, fid); err != nil {
			f = nil
		}
		if _, ok := allowed[fid]; ok {
			return nil
		}
		if fr.MediaIDs, err = keysUnder(tx, onFilePrefix(fid)); err != nil {
			return err
		}
		for _, id := range fr.MediaIDs {
			refOf := id
			if md, err := m.getMedia(tx, id); err == nil && md.Parent != "" {
				refOf = md.Parent
			}
			msgs, err := keysUnder(tx, refPrefix(refOf))
			if err != nil {
				return err
			}
			fr.Messages = append(fr.Messages, msgs...)
		}
		return nil
	})
	if err != nil {
		m.log.Warn("media request", "err", err)
		return wire.ChunkResponse{Status: wire.ChunkError}, buf
	}
	ok, seen := allowed[fid]
	if !seen {
		ok = auth != nil && auth(fr)
		allowed[fid] = ok
	}
	if !ok {
		return wire.ChunkResponse{Status: wire.ChunkForbidden}, buf
	}
	if f == nil || f.State != stateAvailable || req.Index >= uint64(f.Count()) {
		return wire.ChunkResponse{Status: wire.ChunkNotFound}, buf
	}
	ct, err := m.blobs.Get(f.Hash(int(req.Index)), buf)
	if err != nil {
		m.log.Warn("media request: reading a chunk", "err", err)
		return wire.ChunkResponse{Status: wire.ChunkError}, buf
	}
	m.served.Add(1)
	return wire.ChunkResponse{Status: wire.ChunkOK, Chunk: ct}, ct
}
