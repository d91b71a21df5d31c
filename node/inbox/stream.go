package inbox

import (
	"bufio"
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"

	"github.com/petrel-chat/petrel/node/wire"
)

// Budget bounds the bytes of frames one message stream may have read but not yet
// processed.
const Budget = 8 << 20

// Receiver stores a batch of Deliver frames from remote, the peer the stream authenticated,
// and returns their acknowledgements once what they carried is durable (one per frame, in
// order). An error ends the stream without acknowledging the batch.
type Receiver func(ctx context.Context, remote peer.ID, ds []*wire.Deliver) ([]wire.Ack, error)

// StreamLimits are a message stream's bounds.
type StreamLimits struct {
	// Window is the most frames read ahead of processing, and the most in one batch.
	Window int
	// FrameTimeout bounds the wait for each frame (and the pause before it) and the
	// writing of each batch's acknowledgements.
	FrameTimeout time.Duration
}

// Serve serves one /petrel/msg stream until the peer closes it, a frame is late or
// malformed, receive fails or ctx ends; it resets s before it returns. Frames are read
// ahead (at most lim.Window of them and Budget bytes), taken in batches of what has
// arrived, stored by receive, and acknowledged.
func Serve(ctx context.Context, s network.Stream, lim StreamLimits, receive Receiver, log *slog.Logger) {
	remote := s.Conn().RemotePeer()
	budget := semaphore.NewWeighted(Budget)
	frames := make(chan []byte, lim.Window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		r := bufio.NewReaderSize(s, 64<<10)
		for {
			// Every frame, and the pause before it, has a deadline: a peer that stalls
			// (one byte, then nothing) holds the stream no longer than that.
			_ = s.SetReadDeadline(time.Now().Add(lim.FrameTimeout))
			b, err := wire.ReadFrame(r, nil)
			if err != nil {
				return
			}
			if budget.Acquire(ctx, int64(len(b))) != nil {
				return
			}
			select {
			case frames <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		s.Reset()
		<-done
	}()
	w := bufio.NewWriterSize(s, 16<<10)
	for {
		var batch [][]byte
		select {
		case b, ok := <-frames:
			if !ok {
				return
			}
			batch = append(batch, b)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < lim.Window {
			select {
			case b, ok := <-frames:
				if !ok {
					break drain
				}
				batch = append(batch, b)
			default:
				break drain
			}
		}
		ds := make([]*wire.Deliver, 0, len(batch))
		for _, b := range batch {
			d, err := wire.ParseDeliver(b)
			if err != nil {
				log.Info("malformed frame from peer", "peer", remote, "err", err)
				return
			}
			ds = append(ds, d)
		}
		acks, err := receive(ctx, remote, ds)
		held := 0
		for _, b := range batch {
			held += len(b)
		}
		budget.Release(int64(held))
		if err != nil {
			log.Error("receiving", "peer", remote, "err", err)
			return
		}
		_ = s.SetWriteDeadline(time.Now().Add(lim.FrameTimeout))
		for _, a := range acks {
			if err := wire.WriteFrame(w, wire.AppendAck(nil, a)); err != nil {
				return
			}
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}
