package inbox

import (
	"bufio"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/wire"
)

const testProto = protocol.ID("/petrel/test-msg")

// served is a receiving host that serves testProto with Serve and a client host connected
// to it; the handlers are waited for when the test ends.
type served struct {
	client network.Stream
	remote peer.ID // the client's peer id, as the server should see it

	mu      sync.Mutex
	batches [][]wire.ID
	from    []peer.ID
}

func (s *served) received() ([][]wire.ID, []peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches), slices.Clone(s.from)
}

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// serve starts the pair; fail names a first envelope byte whose batch the receiver fails.
func serve(t *testing.T, lim StreamLimits, fail byte) *served {
	t.Helper()
	srv, cli := newHost(t), newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	s := &served{remote: cli.ID()}
	srv.SetStreamHandler(testProto, func(st network.Stream) {
		wg.Add(1)
		defer wg.Done()
		Serve(ctx, st, lim, func(_ context.Context, remote peer.ID, ds []*wire.Deliver) ([]wire.Ack, error) {
			ids := make([]wire.ID, len(ds))
			acks := make([]wire.Ack, len(ds))
			for i, d := range ds {
				ids[i], acks[i] = d.ID, wire.Ack{ID: d.ID, Status: wire.AckStored}
			}
			s.mu.Lock()
			s.batches, s.from = append(s.batches, ids), append(s.from, remote)
			s.mu.Unlock()
			if slices.ContainsFunc(ids, func(id wire.ID) bool { return id[0] == fail && fail != 0 }) {
				return nil, errors.New("store failed")
			}
			return acks, nil
		}, discard())
	})
	if err := cli.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Addrs()}); err != nil {
		t.Fatal(err)
	}
	c, err := cli.NewStream(ctx, srv.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	// A guard against a hang, not a timed assertion: every read below ends long before.
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	s.client = c
	return s
}

func send(t *testing.T, w *bufio.Writer, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if err := wire.WriteFrame(w, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func readAck(r *bufio.Reader) (wire.Ack, error) {
	b, err := wire.ReadFrame(r, nil)
	if err != nil {
		return wire.Ack{}, err
	}
	return wire.ParseAck(b)
}

// TestServeAcksInOrderThenDropsAMalformedFrame: Delivers are stored (with the peer the
// stream authenticated) and acknowledged in order; a malformed frame resets the stream and
// its batch is never handed to the receiver.
func TestServeAcksInOrderThenDropsAMalformedFrame(t *testing.T) {
	t.Parallel()
	s := serve(t, StreamLimits{Window: 4, FrameTimeout: time.Minute}, 0)
	r, w := bufio.NewReader(s.client), bufio.NewWriter(s.client)
	send(t, w, deliverFrame(1), deliverFrame(2), deliverFrame(3))
	for i := byte(1); i <= 3; i++ {
		a, err := readAck(r)
		if err != nil || a.ID != (wire.ID{i}) || a.Status != wire.AckStored {
			t.Fatalf("ack %d: %+v %v", i, a, err)
		}
	}
	send(t, w, []byte{0x7f, 1, 2, 3})
	if a, err := readAck(r); err == nil {
		t.Fatalf("a malformed frame was answered: %+v", a)
	}
	batches, from := s.received()
	var ids []wire.ID
	for _, b := range batches {
		ids = append(ids, b...)
	}
	if !slices.Equal(ids, []wire.ID{{1}, {2}, {3}}) {
		t.Fatalf("received %v", ids)
	}
	for _, p := range from {
		if p != s.remote {
			t.Fatalf("delivered by %s, the stream's peer is %s", p, s.remote)
		}
	}
}

// TestServeFailedStoreIsNotAcknowledged: when the receiver cannot make a batch durable,
// no ack is written (the sender keeps the entries and retries).
func TestServeFailedStoreIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	s := serve(t, StreamLimits{Window: 4, FrameTimeout: time.Minute}, 0xee)
	r, w := bufio.NewReader(s.client), bufio.NewWriter(s.client)
	send(t, w, deliverFrame(0xee))
	if a, err := readAck(r); err == nil {
		t.Fatalf("a batch that was not stored was acknowledged: %+v", a)
	}
	if batches, _ := s.received(); len(batches) != 1 {
		t.Fatalf("%d batches received, want the one that failed", len(batches))
	}
}

// TestServeStalledPeerIsCutOff: a peer that sends part of a frame and then nothing holds
// the stream only until the frame deadline: the stream is reset.
func TestServeStalledPeerIsCutOff(t *testing.T) {
	t.Parallel()
	s := serve(t, StreamLimits{Window: 4, FrameTimeout: 100 * time.Millisecond}, 0)
	if _, err := s.client.Write([]byte{0x20}); err != nil { // a length, then no body
		t.Fatal(err)
	}
	if _, err := readAck(bufio.NewReader(s.client)); err == nil {
		t.Fatal("a stalled stream was answered")
	} else if isTimeout(err) {
		t.Fatalf("the client's guard fired before the server cut the stream off: %v", err)
	}
	if batches, _ := s.received(); len(batches) != 0 {
		t.Fatalf("a partial frame reached the receiver: %v", batches)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
