package relayserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

const (
	// depositWindow and depositBytes bound the deposits of one stream in flight at once.
	depositWindow = 512
	depositBytes  = 4 << 20
	// fetchBytes bounds the envelopes of one Fetch answer beyond the first.
	fetchBytes = 4 << 20
	// noticeTimeout bounds writing one Notice to a watcher.
	noticeTimeout = 10 * time.Second
)

// handleMailbox serves /petrel/mailbox/1.0.0: a stream of deposits, or an owner session.
func (s *Server) handleMailbox(c *streamIO) {
	body, err := c.read()
	if err != nil {
		s.readFailed(c, err)
		return
	}
	switch relaywire.Type(body) {
	case relaywire.TypeDeposit, relaywire.TypeMultiDeposit, relaywire.TypeDepositUntil, relaywire.TypeMultiDepositUntil:
		s.serveDeposits(c, body)
	case relaywire.TypeAuth:
		_, mb, ok := s.authenticate(c, body)
		if ok {
			s.serveOwner(c, mb)
		}
	default:
		s.refuse(c, relaywire.CodeBadRequest, "a mailbox stream starts with a deposit or an auth frame")
	}
}

// serveDeposits answers pipelined deposits in order. The reader validates each deposit
// and queues it at the store in stream order; the writer waits for each outcome in turn
// and answers it. Up to depositWindow deposits and depositBytes of envelopes are in flight
// (reserved in the stream's resource scope), sharing group commits.
func (s *Server) serveDeposits(c *streamIO, body []byte) {
	from := c.st.Conn().RemotePeer()
	type pending struct {
		wait func() []byte // the answer's frame body
		size int
	}
	q := make(chan pending, depositWindow)
	var mu sync.Mutex
	room := sync.NewCond(&mu)
	inflight := 0
	writerDone := make(chan bool)
	go func() { // the writer: results in request order
		ok := true
		for p := range q {
			answer := p.wait()
			if p.size > 0 {
				c.st.Scope().ReleaseMemory(p.size)
				mu.Lock()
				inflight -= p.size
				room.Signal()
				mu.Unlock()
			}
			if !ok {
				continue
			}
			if err := relaywire.WriteFrame(c.w, answer); err != nil {
				ok = false
				continue
			}
			if len(q) == 0 {
				ok = c.w.Flush() == nil
			}
		}
		writerDone <- ok
	}()
	var readErr error
	for {
		size := len(body)
		mu.Lock()
		for inflight > 0 && inflight+size > depositBytes {
			room.Wait()
		}
		mu.Unlock()
		if err := c.st.Scope().ReserveMemory(size, network.ReservationPriorityMedium); err != nil {
			q <- pending{wait: s.answer(func() relaywire.Result {
				return relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay is short of memory for deposits; retry later"}
			})}
		} else {
			mu.Lock()
			inflight += size
			mu.Unlock()
			if relaywire.IsMultiDeposit(relaywire.Type(body)) {
				q <- pending{wait: s.startMultiDeposit(from, body), size: size}
			} else {
				q <- pending{wait: s.answer(s.startDeposit(from, body)), size: size}
			}
		}
		c.extend()
		body, readErr = c.read()
		if readErr != nil {
			break
		}
		if !relaywire.IsDeposit(relaywire.Type(body)) {
			readErr = fmt.Errorf("%w: a deposit stream carries deposits only", relaywire.ErrMalformed)
			break
		}
	}
	close(q)
	ok := <-writerDone // every deposit has answered
	if !ok {
		c.st.Reset()
		return
	}
	s.readFailed(c, readErr)
}

// answer turns a deposit's Result into its frame body, counting it.
func (s *Server) answer(wait func() relaywire.Result) func() []byte {
	return func() []byte {
		r := wait()
		if r.Code == relaywire.OK {
			s.m.deposits.Inc()
		} else {
			s.m.refused(r.Code)
		}
		return relaywire.AppendResult(nil, r)
	}
}

// startDeposit validates one deposit and queues it at the store; the returned function
// waits for its Result.
func (s *Server) startDeposit(from peer.ID, body []byte) func() relaywire.Result {
	cfg := &s.cfg.Mailbox
	now := s.now()
	refuse := func(code relaywire.Code, msg string) func() relaywire.Result {
		return func() relaywire.Result { return relaywire.Result{Code: code, Message: msg} }
	}
	d, err := relaywire.ParseDeposit(body)
	if err != nil {
		return refuse(relaywire.CodeBadRequest, "malformed deposit")
	}
	if len(d.Envelope) > cfg.MaxEnvelopeBytes {
		return refuse(relaywire.CodeTooLarge,
			fmt.Sprintf("envelope of %d bytes; this relay takes at most %d", len(d.Envelope), cfg.MaxEnvelopeBytes))
	}
	h, err := sealed.ParseHeader(d.Envelope)
	if err != nil {
		return refuse(relaywire.CodeBadEnvelope, "not a sealed envelope")
	}
	if !bytes.Equal(h.Mailbox, d.Mailbox) {
		return refuse(relaywire.CodeBadEnvelope, "the envelope is addressed to another mailbox")
	}
	if !s.peerRate.allow(string(from), now) {
		return refuse(relaywire.CodeRateLimited, fmt.Sprintf("this peer deposits more than %g messages per second", cfg.PeerRate))
	}
	if !s.mailboxRate.allow(string(d.Mailbox), now) {
		return refuse(relaywire.CodeRateLimited, fmt.Sprintf("this mailbox receives more than %g messages per second", cfg.MailboxRate))
	}
	q := relaystore.Quota{MaxBytes: cfg.MaxBytes, MaxMessages: cfg.MaxMessages, TTL: time.Duration(cfg.TTL)}
	wait := s.store.StartDepositUntil(s.ctx, d.Mailbox, d.Envelope, now, untilTime(d.ExpiresAt), q)
	size := len(d.Envelope)
	return func() relaywire.Result {
		_, err := wait()
		switch {
		case err == nil:
			s.m.depositBytes.Add(float64(size))
			s.pushDeposited(d.Mailbox, size, func() []byte { return d.Envelope })
			return relaywire.Result{Code: relaywire.OK}
		case errors.Is(err, relaystore.ErrUnknownMailbox):
			return relaywire.Result{Code: relaywire.CodeUnknownMailbox, Message: "no such mailbox on this relay"}
		case errors.Is(err, relaystore.ErrBadEnvelope):
			return relaywire.Result{Code: relaywire.CodeBadEnvelope, Message: "not a sealed envelope"}
		case errors.Is(err, relaystore.ErrQuotaBytes):
			return relaywire.Result{Code: relaywire.CodeQuotaBytes, Message: fmt.Sprintf("the mailbox is full (%d bytes)", cfg.MaxBytes)}
		case errors.Is(err, relaystore.ErrQuotaMessages):
			return relaywire.Result{Code: relaywire.CodeQuotaMessages, Message: fmt.Sprintf("the mailbox is full (%d messages)", cfg.MaxMessages)}
		}
		s.log.Error("deposit failed", "err", err)
		return relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay cannot store mail right now"}
	}
}

// untilTime is a deposit's expiry as a time (zero for none).
func untilTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// serveOwner answers an authenticated owner's Fetch and Ack requests, or one Watch.
func (s *Server) serveOwner(c *streamIO, mb []byte) {
	for {
		c.extend()
		body, err := c.read()
		if err != nil {
			s.readFailed(c, err)
			return
		}
		switch relaywire.Type(body) {
		case relaywire.TypeFetch:
			max, err := relaywire.ParseFetch(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed fetch")
				return
			}
			if err := s.fetch(c, mb, max); err != nil {
				c.st.Reset()
				return
			}
		case relaywire.TypeAck:
			ids, err := relaywire.ParseAck(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed ack")
				return
			}
			n, err := s.store.Ack(s.ctx, mb, ids)
			if err != nil {
				s.log.Error("ack failed", "err", err)
				s.refuse(c, relaywire.CodeUnavailable, "the relay cannot delete mail right now")
				return
			}
			s.m.acked.Add(float64(n))
			if err := c.send(relaywire.AppendResult(nil, relaywire.Result{Code: relaywire.OK})); err != nil {
				c.st.Reset()
				return
			}
		case relaywire.TypeWatch:
			if relaywire.ParseWatch(body) != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed watch")
				return
			}
			s.serveWatch(c, mb)
			return
		default:
			s.refuse(c, relaywire.CodeBadRequest, "expected fetch, ack or watch")
			return
		}
	}
}

func (s *Server) fetch(c *streamIO, mb []byte, max int) error {
	mail, more, err := s.store.Fetch(mb, max, fetchBytes, s.now())
	if err != nil {
		s.log.Error("fetch failed", "err", err)
		s.refuse(c, relaywire.CodeUnavailable, "the relay cannot read mail right now")
		return err
	}
	var buf []byte
	for _, m := range mail {
		buf = relaywire.AppendMail(buf[:0], m)
		if err := relaywire.WriteFrame(c.w, buf); err != nil {
			return err
		}
	}
	if err := c.send(relaywire.AppendFetchEnd(nil, more)); err != nil {
		return err
	}
	s.m.fetches.Inc()
	s.m.fetched.Add(float64(len(mail)))
	return nil
}

// serveWatch sends a Notice now and after every deposit into mb, until the owner closes
// the stream or the relay shuts down.
func (s *Server) serveWatch(c *streamIO, mb []byte) {
	w := s.watch.add(mb)
	if w == nil {
		s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("at most %d watchers per mailbox", s.cfg.Mailbox.MaxWatchers))
		return
	}
	defer s.watch.remove(mb, w)
	s.pushOnline(mb)
	// A watching owner is online and waiting for mail: the connection manager must not
	// trim its connection as idle.
	owner := c.st.Conn().RemotePeer()
	tag := fmt.Sprintf("petrel-watch-%p", w) // one tag per watch: two may share a peer
	s.host.ConnManager().Protect(owner, tag)
	defer s.host.ConnManager().Unprotect(owner, tag)
	c.st.SetReadDeadline(time.Time{})
	// The owner sends nothing more: any read result (EOF, reset, a frame) ends the watch.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		io.Copy(io.Discard, io.LimitReader(c.r, 1))
		cancel()
	}()
	defer func() {
		c.st.Reset() // unblocks the reader if it still waits
		<-readerDone
	}()
	waiting := s.store.Waiting(mb)
	for {
		c.st.SetWriteDeadline(time.Now().Add(noticeTimeout))
		if err := c.send(relaywire.AppendNotice(nil, waiting)); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case waiting = <-w.ch:
		}
	}
}
