package relayserver

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// startMultiDeposit validates a MultiDeposit and queues it at the store; the returned
// function waits for the answer: a MultiResult with one code per recipient, or a Result
// when the whole deposit is refused.
//
// Rates: the depositor's bucket is charged one token per recipient (as many single
// deposits would be: a multi deposit saves bytes and work, not allowance), all or
// nothing; each mailbox's bucket one token, and a mailbox over its rate refuses only
// itself.
func (s *Server) startMultiDeposit(from peer.ID, body []byte) func() []byte {
	cfg := &s.cfg.Mailbox
	now := s.now()
	refuse := func(code relaywire.Code, msg string) func() []byte {
		return func() []byte {
			s.m.refused(code)
			return relaywire.AppendResult(nil, relaywire.Result{Code: code, Message: msg})
		}
	}
	d, err := relaywire.ParseMultiDeposit(body)
	if errors.Is(err, relaywire.ErrTooManyRecipients) || (err == nil && len(d.Recipients) > cfg.MaxRecipients) {
		return refuse(relaywire.CodeTooLarge, fmt.Sprintf("at most %d recipients per multi deposit on this relay", cfg.MaxRecipients))
	}
	if err != nil {
		return refuse(relaywire.CodeBadRequest, "malformed multi deposit")
	}
	if len(d.Body) > cfg.MaxEnvelopeBytes {
		return refuse(relaywire.CodeTooLarge,
			fmt.Sprintf("body of %d bytes; this relay takes at most %d", len(d.Body), cfg.MaxEnvelopeBytes))
	}
	if sealed.ParseBody(d.Body) != nil {
		return refuse(relaywire.CodeBadEnvelope, "not a shared body")
	}
	if !s.peerRate.allowN(string(from), now, len(d.Recipients)) {
		return refuse(relaywire.CodeRateLimited, fmt.Sprintf("this peer deposits more than %g messages per second", cfg.PeerRate))
	}
	codes := make([]relaywire.Code, len(d.Recipients))
	var accepted []relaystore.Recipient
	var at []int // accepted[j] is recipient at[j]
	for i, r := range d.Recipients {
		h, err := sealed.ParseHeader(r.Header)
		switch {
		case err != nil || !bytes.Equal(h.Mailbox, r.Mailbox):
			codes[i] = relaywire.CodeBadEnvelope
		case !s.mailboxRate.allow(string(r.Mailbox), now):
			codes[i] = relaywire.CodeRateLimited
		default:
			accepted = append(accepted, relaystore.Recipient{Mailbox: r.Mailbox, Header: r.Header})
			at = append(at, i)
		}
	}
	var wait func() ([]error, error)
	if len(accepted) > 0 {
		q := relaystore.Quota{MaxBytes: cfg.MaxBytes, MaxMessages: cfg.MaxMessages, TTL: time.Duration(cfg.TTL)}
		wait = s.store.StartMultiDepositUntil(s.ctx, accepted, d.Body, now, untilTime(d.ExpiresAt), q)
	}
	bodySize := len(d.Body)
	return func() []byte {
		if wait != nil {
			errs, err := wait()
			if err != nil {
				s.log.Error("multi deposit failed", "err", err)
				s.m.refused(relaywire.CodeUnavailable)
				return relaywire.AppendResult(nil, relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay cannot store mail right now"})
			}
			stored, bytesIn := 0, bodySize
			for j, e := range errs {
				codes[at[j]] = storeCode(e)
				if e == nil {
					stored++
					bytesIn += len(accepted[j].Header)
					s.pushDepositedShared(accepted[j].Mailbox, accepted[j].Header, d.Body)
				}
			}
			if stored > 0 {
				s.m.multiDeposits.Inc()
				s.m.multiRecipients.Add(float64(stored))
				s.m.depositBytes.Add(float64(bytesIn))
			}
		}
		for _, c := range codes {
			if c != relaywire.OK {
				s.m.refused(c)
			}
		}
		return relaywire.AppendMultiResult(nil, codes)
	}
}

// storeCode maps a store refusal to its code (OK for nil).
func storeCode(err error) relaywire.Code {
	switch {
	case err == nil:
		return relaywire.OK
	case errors.Is(err, relaystore.ErrUnknownMailbox):
		return relaywire.CodeUnknownMailbox
	case errors.Is(err, relaystore.ErrQuotaBytes):
		return relaywire.CodeQuotaBytes
	case errors.Is(err, relaystore.ErrQuotaMessages):
		return relaywire.CodeQuotaMessages
	}
	return relaywire.CodeUnavailable
}
