package relayserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// pushFrameLimit bounds a push protocol frame.
const pushFrameLimit = 1 + relaywire.PushRegistrationIDSize + relaywire.MaxSealedRegistration

// handlePush serves /petrel/push/1.0.0: BridgeKey from anyone; from an authenticated owner,
// any number of BridgeKey, PushRegister, PushUnregister, PushList and PushDND requests.
func (s *Server) handlePush(c *streamIO) {
	body, err := c.read()
	if err != nil {
		s.readFailed(c, err)
		return
	}
	switch relaywire.Type(body) {
	case relaywire.TypeBridgeKey:
		if relaywire.ParseBridgeKey(body) != nil {
			s.refuse(c, relaywire.CodeBadRequest, "malformed bridge key request")
			return
		}
		if err := c.send(relaywire.AppendBridgeKeyIs(nil, s.push.key.Public())); err != nil {
			c.st.Reset()
			return
		}
		c.st.Close()
		return
	case relaywire.TypeAuth:
	default:
		s.refuse(c, relaywire.CodeBadRequest, "a push stream starts with a bridge key request or an auth frame")
		return
	}
	owner, mb, ok := s.authenticate(c, body)
	if !ok {
		return
	}
	for {
		c.extend()
		body, err := c.read()
		if err != nil {
			s.readFailed(c, err)
			return
		}
		var answer []byte
		switch relaywire.Type(body) {
		case relaywire.TypeBridgeKey:
			if relaywire.ParseBridgeKey(body) != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed bridge key request")
				return
			}
			answer = relaywire.AppendBridgeKeyIs(nil, s.push.key.Public())
		case relaywire.TypePushRegister:
			r, err := relaywire.ParsePushRegister(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed push registration")
				return
			}
			res := relaywire.Result{Code: relaywire.OK}
			var refused errRefused
			if _, err := s.push.open(mb, owner, r.Sealed); errors.As(err, &refused) {
				res = relaywire.Result{Code: relaywire.CodePushRefused, Message: refused.msg}
			} else if err := s.store.PutPush(s.ctx, mb, r.ID, r.Sealed, s.now(), s.push.cfg.MaxRegistrations); errors.Is(err, relaystore.ErrPushLimit) {
				res = relaywire.Result{Code: relaywire.CodeQuotaMessages, Message: fmt.Sprintf("at most %d push registrations per mailbox here", s.push.cfg.MaxRegistrations)}
			} else if err != nil {
				s.log.Error("storing a push registration failed", "err", err)
				res = relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay cannot store push registrations right now"}
			}
			if res.Code != relaywire.OK {
				s.m.refused(res.Code)
			}
			answer = relaywire.AppendResult(nil, res)
		case relaywire.TypePushUnregister:
			id, err := relaywire.ParsePushUnregister(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed push unregistration")
				return
			}
			res := relaywire.Result{Code: relaywire.OK}
			if err := s.store.DeletePush(s.ctx, mb, id); err != nil {
				s.log.Error("deleting a push registration failed", "err", err)
				res = relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay cannot delete push registrations right now"}
			} else {
				s.push.bridge.Forget(string(mb), string(id[:]))
			}
			answer = relaywire.AppendResult(nil, res)
		case relaywire.TypePushList:
			if relaywire.ParsePushList(body) != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed push list request")
				return
			}
			recs, err := s.store.Pushes(mb)
			if err != nil {
				s.log.Error("reading push registrations failed", "err", err)
				s.refuse(c, relaywire.CodeUnavailable, "the relay cannot read push registrations right now")
				return
			}
			states := make([]relaywire.PushState, 0, len(recs))
			for _, r := range recs[:min(len(recs), relaywire.MaxPushStates)] {
				states = append(states, relaywire.PushState{ID: r.ID, Dead: r.Dead, Reason: r.Reason})
			}
			answer = relaywire.AppendPushStates(nil, states)
		case relaywire.TypePushDND:
			ms, err := relaywire.ParsePushDND(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed do-not-disturb")
				return
			}
			res := relaywire.Result{Code: relaywire.OK}
			if err := s.store.SetPushDND(s.ctx, mb, msTime(ms)); err != nil {
				s.log.Error("storing do-not-disturb failed", "err", err)
				res = relaywire.Result{Code: relaywire.CodeUnavailable, Message: "the relay cannot store settings right now"}
			}
			answer = relaywire.AppendResult(nil, res)
		default:
			s.refuse(c, relaywire.CodeBadRequest, "expected a push request")
			return
		}
		if err := c.send(answer); err != nil {
			c.st.Reset()
			return
		}
	}
}

// pushDeposited is the deposit hook: mail for mb is durable. If its owner is not watching,
// the bridge is told, with the envelope when it fits a push (envelope is built only then).
func (s *Server) pushDeposited(mb []byte, size int, envelope func() []byte) {
	if s.push == nil || s.watch.watching(mb) {
		return
	}
	var env []byte
	if size <= bridge.MaxEnvelope {
		env = envelope()
	}
	s.push.bridge.Notify(append([]byte(nil), mb...), env)
}

// pushOnline is the watch hook: the owner of mb is watching now.
func (s *Server) pushOnline(mb []byte) {
	if s.push != nil {
		s.push.bridge.Online(append([]byte(nil), mb...))
	}
}

// pushDepositedShared is pushDeposited for one recipient of a multi deposit: the envelope
// is what that recipient fetches (crypto/sealed JoinShared).
func (s *Server) pushDepositedShared(mb, header, body []byte) {
	s.pushDeposited(mb, sealed.SharedSize(len(header), len(body)), func() []byte { return sealed.JoinShared(header, body) })
}

// watching reports whether mailbox has a watch stream open.
func (ws *watchers) watching(mailbox []byte) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m[string(mailbox)]) > 0
}

// msTime is a Unix-millisecond time, 0 being none.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
