package relayserver

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// authenticate runs the challenge exchange after an Auth frame: the owner proves its
// identity key for this relay and its own peer id, and registers (under the policy) or must
// already be registered. On failure the stream has been answered and closed.
func (s *Server) authenticate(c *streamIO, body []byte) (*identity.PublicIdentity, []byte, bool) {
	return s.authenticateAs(c, body, true)
}

// authenticateAs is authenticate; with mayRegister false a Proof asking to register is
// refused (a protocol that serves registered owners only: the blob store).
func (s *Server) authenticateAs(c *streamIO, body []byte, mayRegister bool) (*identity.PublicIdentity, []byte, bool) {
	owner, err := relaywire.ParseAuth(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "malformed auth")
		return nil, nil, false
	}
	challenge := make([]byte, relaywire.ChallengeSize)
	rand.Read(challenge)
	if err := c.send(relaywire.AppendChallenge(nil, challenge)); err != nil {
		c.st.Reset()
		return nil, nil, false
	}
	body, err = c.read()
	if err != nil {
		s.readFailed(c, err)
		return nil, nil, false
	}
	proof, err := relaywire.ParseProof(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "expected a proof")
		return nil, nil, false
	}
	remote := c.st.Conn().RemotePeer()
	msg := relaywire.ChallengeMessage(challenge, []byte(s.host.ID()), []byte(remote))
	if !owner.Verify(identity.DomainMailbox, msg, proof.Signature) {
		s.refuse(c, relaywire.CodeUnauthorized, "the signature does not prove this identity for this relay and peer")
		return nil, nil, false
	}
	mb := relaywire.MailboxID(owner)
	if proof.Register && !mayRegister {
		s.refuse(c, relaywire.CodeBadRequest, "register on the mailbox protocol first; this protocol serves registered owners only")
		return nil, nil, false
	}
	if proof.Register {
		if !s.registerRate.allow(string(remote), s.now()) {
			s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("more than %g registrations per second from this peer", s.cfg.Registration.Rate))
			return nil, nil, false
		}
		switch s.cfg.Registration.Policy {
		case PolicyInvite:
			if !s.invites[proof.Invite] {
				s.refuse(c, relaywire.CodeRegistrationOff, "registration here needs a valid invite code")
				return nil, nil, false
			}
		case PolicyAllowList:
			if !s.allow[remote] {
				s.refuse(c, relaywire.CodeRegistrationOff, "this relay registers only the peers on its allow-list")
				return nil, nil, false
			}
		}
		created, err := s.store.Register(s.ctx, owner, s.now())
		if err != nil {
			s.log.Error("register failed", "err", err)
			s.refuse(c, relaywire.CodeUnavailable, "the relay cannot register mailboxes right now")
			return nil, nil, false
		}
		if created {
			s.m.registrations.Inc()
			s.log.Info("mailbox registered", "peer", remote)
		}
	} else if _, err := s.store.Owner(mb); err != nil {
		if errors.Is(err, relaystore.ErrUnknownMailbox) {
			s.refuse(c, relaywire.CodeNotRegistered, "no mailbox for this identity here: register first")
		} else {
			s.log.Error("owner lookup failed", "err", err)
			s.refuse(c, relaywire.CodeUnavailable, "the relay cannot read its registrations right now")
		}
		return nil, nil, false
	}
	if err := c.send(relaywire.AppendResult(nil, relaywire.Result{Code: relaywire.OK})); err != nil {
		c.st.Reset()
		return nil, nil, false
	}
	return owner, mb, true
}
