package mailboxclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// conn is one stream to the relay with its framing. Cancelling the call's context resets
// the stream, which unblocks any read or write.
type conn struct {
	st   network.Stream
	r    *bufio.Reader
	w    *bufio.Writer
	stop func() bool
}

func open(ctx context.Context, h host.Host, relay peer.ID, proto protocol.ID) (*conn, error) {
	st, err := h.NewStream(ctx, relay, proto)
	if err != nil {
		return nil, fmt.Errorf("mailboxclient: open %s to %s: %w", proto, relay, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	st.SetDeadline(deadline)
	c := &conn{st: st, r: bufio.NewReaderSize(st, 4<<10), w: bufio.NewWriterSize(st, 4<<10)}
	c.stop = context.AfterFunc(ctx, func() { st.Reset() })
	return c, nil
}

// withTimeout gives ctx a deadline of DefaultTimeout if it has none.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// close ends the stream cleanly (err == nil) or resets it.
func (c *conn) close(err error) {
	c.stop()
	if err != nil {
		c.st.Reset()
		return
	}
	c.st.Close()
}

func (c *conn) write(body []byte) error {
	if err := relaywire.WriteFrame(c.w, body); err != nil {
		return fmt.Errorf("mailboxclient: write: %w", err)
	}
	return nil
}

func (c *conn) flush() error {
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("mailboxclient: write: %w", err)
	}
	return nil
}

func (c *conn) send(body []byte) error {
	if err := c.write(body); err != nil {
		return err
	}
	return c.flush()
}

// read reads one frame; a Result refusal becomes a *RefusedError unless want is TypeResult.
func (c *conn) read(want byte) ([]byte, error) {
	body, err := relaywire.ReadFrame(c.r, nil, 0)
	if err == io.EOF {
		return nil, fmt.Errorf("%w: stream ended early", ErrProtocol)
	}
	if err != nil {
		return nil, fmt.Errorf("mailboxclient: read: %w", err)
	}
	t := relaywire.Type(body)
	if t == relaywire.TypeResult && want != relaywire.TypeResult {
		r, err := relaywire.ParseResult(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, refusal(r)
	}
	if t != want {
		return nil, fmt.Errorf("%w: frame type %#x, want %#x", ErrProtocol, t, want)
	}
	return body, nil
}

// result reads a Result: nil for OK, else the refusal.
func (c *conn) result() error {
	body, err := c.read(relaywire.TypeResult)
	if err != nil {
		return err
	}
	r, err := relaywire.ParseResult(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if r.Code != relaywire.OK {
		return &RefusedError{Code: r.Code, Message: r.Message}
	}
	return nil
}

// authenticate proves id to the relay on c (registering first when register is set).
func (c *conn) authenticate(h host.Host, relay peer.ID, id *identity.Identity, register bool, invite string) error {
	if err := c.send(relaywire.AppendAuth(nil, id.Public())); err != nil {
		return err
	}
	body, err := c.read(relaywire.TypeChallenge)
	if err != nil {
		return err
	}
	challenge, err := relaywire.ParseChallenge(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	sig := id.Sign(identity.DomainMailbox, relaywire.ChallengeMessage(challenge, []byte(relay), []byte(h.ID())))
	if err := c.send(relaywire.AppendProof(nil, relaywire.Proof{Register: register, Signature: sig, Invite: invite})); err != nil {
		return err
	}
	return c.result()
}
