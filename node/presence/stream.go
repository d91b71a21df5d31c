package presence

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/wire"
)

// Live streams: one long-lived outgoing stream per contact's peer carries our heartbeats
// and typing signals (docs/PROTOCOL.md "Presence and typing"), instead of a stream per
// signal: a signal costs one small yamux frame on the wire, not a protocol negotiation.
//
// Writes never block the presence loop: a signal joins the peer's bounded queue (the
// oldest is dropped when it is full; a signal equal to the last one queued is not queued
// twice) and one goroutine per peer, started only while there is something to write,
// drains it, opening the stream (and dialing) when it has none or it broke. A stream
// nothing was written on for a Timeout is closed. The receiving end reads frames with a
// read deadline of a Timeout (plus liveTimeout) and resets a stream silent for longer.
const (
	liveServiceName = "petrel.live" // resource manager service of live streams
	liveQueue       = 8             // signals waiting for one peer
	liveMaxOut      = 1024          // peers with an outgoing live stream or queue
	liveStreamMem   = 4 << 10       // memory reserved per live stream (buffers)
	liveBurst       = 32            // signals a peer may send within one liveBurstWindow
	liveBurstEvery  = time.Second
)

// liveOut is the outgoing live stream to one peer and its queue. queue, running and last
// are guarded by Service.mu; s and w belong to the drain goroutine while running, and
// to whoever holds Service.mu otherwise.
type liveOut struct {
	pid     peer.ID
	queue   [][]byte
	running bool
	s       network.Stream
	w       *bufio.Writer
	last    time.Time // last signal written
}

// enqueue queues one framed signal for pid and starts its drain goroutine if none runs.
// A heartbeat is dropped once presence is hidden, under the same lock that hides it: one
// that raced with the change cannot follow the "hidden" signal on the stream.
func (l *Service) enqueue(pid peer.ID, frame []byte, heartbeat bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ctx == nil || pid == l.h.ID() || heartbeat && l.hidden {
		return
	}
	o := l.out[pid]
	if o == nil {
		if len(l.out) >= liveMaxOut {
			return
		}
		o = &liveOut{pid: pid}
		l.out[pid] = o
	}
	if n := len(o.queue); n > 0 && bytes.Equal(o.queue[n-1], frame) {
		return
	}
	if len(o.queue) >= liveQueue {
		o.queue = o.queue[1:] // drop the oldest: a stale signal is worth least
	}
	o.queue = append(o.queue, frame)
	if !o.running {
		o.running = true
		l.wg.Add(1) // under l.mu, so never after wait has begun
		go l.drain(l.ctx, o)
	}
}

// drain writes o's queue until it is empty.
func (l *Service) drain(ctx context.Context, o *liveOut) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if len(o.queue) == 0 || l.closed || ctx.Err() != nil {
			o.running = false
			o.queue = nil
			l.mu.Unlock()
			return
		}
		f := o.queue[0]
		o.queue = o.queue[1:]
		l.mu.Unlock()
		err := l.writeLive(ctx, o, f)
		l.mu.Lock()
		if err == nil {
			o.last = time.Now()
		}
		l.mu.Unlock()
		if err != nil {
			l.log.Debug("live signal not delivered", "peer", o.pid, "err", err)
		}
	}
}

// writeLive writes one frame on o's stream, opening one when there is none or the one
// there broke: a signal lost to a connection being replaced (both sides dialing at once)
// is worth a quick second try, all within liveTimeout.
func (l *Service) writeLive(ctx context.Context, o *liveOut, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	var err error
	for attempt, pause := 0, 100*time.Millisecond; attempt < 3; attempt, pause = attempt+1, pause*3 {
		if attempt == 0 && o.s != nil {
			// A stream opened earlier may have broken since (the peer reset it, its
			// connection closed): a write that fails on it is tried on a new one at once.
			if err = l.writeFrame(o, frame); err == nil {
				return nil
			}
		}
		if attempt > 0 {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
		}
		if o.s == nil {
			if err = l.openLive(ctx, o); err != nil {
				continue
			}
		}
		if err = l.writeFrame(o, frame); err == nil {
			return nil
		}
	}
	return err
}

// writeFrame writes one frame on o's open stream; a stream that fails is reset and let go.
func (l *Service) writeFrame(o *liveOut, frame []byte) error {
	_ = o.s.SetWriteDeadline(time.Now().Add(liveTimeout))
	err := wire.WriteFrame(o.w, frame)
	if err == nil {
		err = o.w.Flush()
	}
	if err != nil {
		o.s.Reset()
		o.s, o.w = nil, nil
	}
	return err
}

// openLive opens o's stream, a few peers at a time (an open may dial).
func (l *Service) openLive(ctx context.Context, o *liveOut) error {
	select {
	case l.opening <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.opening }()
	s, err := l.h.NewStream(network.WithAllowLimitedConn(ctx, "live"), o.pid, protocol.ID(wire.LiveProtocol))
	if err != nil {
		return err
	}
	if err := s.Scope().SetService(liveServiceName); err != nil {
		s.Reset()
		return fmt.Errorf("live stream scope: %w", err)
	}
	if err := s.Scope().ReserveMemory(liveStreamMem, network.ReservationPriorityLow); err != nil {
		s.Reset()
		return fmt.Errorf("live stream memory: %w", err)
	}
	_ = s.CloseRead() // nothing comes back on it
	o.s, o.w = s, bufio.NewWriterSize(s, 256)
	return nil
}

// idleStreams closes outgoing streams nothing was written on for a Timeout and forgets
// peers with nothing queued and no stream.
func (l *Service) idleStreams(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for pid, o := range l.out {
		if o.running {
			continue
		}
		if o.s != nil && now.Sub(o.last) > l.opts.Timeout {
			_ = o.s.Close()
			o.s, o.w = nil, nil
		}
		if o.s == nil {
			delete(l.out, pid)
		}
	}
}

// closeStreams ends every live stream, both ways (at shutdown, after closed is set).
func (l *Service) closeStreams() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for pid, o := range l.out {
		if !o.running && o.s != nil {
			_ = o.s.Close()
			o.s, o.w = nil, nil
		}
		if !o.running {
			delete(l.out, pid)
		}
	}
	for s := range l.in {
		s.Reset()
	}
}

// readLive reads one uvarint-length live frame of at most MaxLive bytes; io.EOF at a
// frame boundary means the sender closed the stream.
func readLive(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("live frame length: %w", err)
	}
	if n > wire.MaxLive {
		return nil, fmt.Errorf("live frame of %d bytes: %w", n, wire.ErrTooLarge)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("live frame body: %w", io.ErrUnexpectedEOF)
	}
	return b, nil
}

// handle reads a peer's live stream: signals one after another until the sender closes
// it, it breaks, it stays silent for longer than a Timeout, or it carries something that
// is not a contact's live signal.
func (l *Service) handle(s network.Stream) {
	if err := s.Scope().SetService(liveServiceName); err != nil {
		s.Reset()
		return
	}
	if err := s.Scope().ReserveMemory(liveStreamMem, network.ReservationPriorityLow); err != nil {
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(liveStreamMem)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		s.Reset()
		return
	}
	l.in[s] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.in, s)
		l.mu.Unlock()
		l.wg.Done()
	}()
	_ = s.CloseWrite() // nothing goes back on it
	from := s.Conn().RemotePeer()
	r := bufio.NewReaderSize(s, 256)
	burst, burstStart := 0, time.Now()
	for {
		_ = s.SetReadDeadline(time.Now().Add(l.opts.Timeout + liveTimeout))
		b, err := readLive(r)
		if errors.Is(err, io.EOF) {
			_ = s.Close()
			return
		}
		if err != nil {
			s.Reset()
			return
		}
		if now := time.Now(); now.Sub(burstStart) > liveBurstEvery {
			burst, burstStart = 0, now
		}
		if burst++; burst > liveBurst {
			l.log.Debug("live stream: too many signals, reset", "peer", from)
			s.Reset()
			return
		}
		sig, err := wire.ParseLive(b)
		if err != nil {
			s.Reset()
			return
		}
		if !l.signal(from, sig) {
			s.Reset()
			return
		}
	}
}
