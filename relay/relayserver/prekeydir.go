package relayserver

import (
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// handlePrekeyDir serves /petrel/prekeydir/1.0.0: one bundle request, or an owner session
// of uploads and counts.
func (s *Server) handlePrekeyDir(c *streamIO) {
	body, err := c.read()
	if err != nil {
		s.readFailed(c, err)
		return
	}
	switch relaywire.Type(body) {
	case relaywire.TypeGetBundle:
		s.serveBundle(c, body)
	case relaywire.TypeAuth:
		owner, mb, ok := s.authenticate(c, body)
		if ok {
			s.servePrekeyOwner(c, owner, mb)
		}
	default:
		s.refuse(c, relaywire.CodeBadRequest, "a prekey directory stream starts with a bundle request or an auth frame")
	}
}

func (s *Server) serveBundle(c *streamIO, body []byte) {
	mb, err := relaywire.ParseGetBundle(body)
	if err != nil {
		s.refuse(c, relaywire.CodeBadRequest, "malformed bundle request")
		return
	}
	if !s.bundleRate.allow(string(c.st.Conn().RemotePeer()), s.now()) {
		s.refuse(c, relaywire.CodeRateLimited, fmt.Sprintf("more than %g bundle requests per second", s.cfg.Prekeys.BundleRate))
		return
	}
	b, err := s.store.TakeBundle(s.ctx, mb)
	switch {
	case errors.Is(err, relaystore.ErrUnknownMailbox):
		s.refuse(c, relaywire.CodeUnknownMailbox, "no such mailbox on this relay")
		return
	case errors.Is(err, relaystore.ErrNoPrekeys):
		s.refuse(c, relaywire.CodeNoPrekeys, "the owner has uploaded no prekeys here")
		return
	case err != nil:
		s.log.Error("bundle failed", "err", err)
		s.refuse(c, relaywire.CodeUnavailable, "the relay cannot hand out prekeys right now")
		return
	}
	s.m.bundles.Inc()
	if err := c.send(relaywire.AppendBundle(nil, b.Marshal())); err != nil {
		c.st.Reset()
		return
	}
	c.st.Close()
}

func (s *Server) servePrekeyOwner(c *streamIO, owner *identity.PublicIdentity, mb []byte) {
	for {
		c.extend()
		body, err := c.read()
		if err != nil {
			s.readFailed(c, err)
			return
		}
		var rem relaystore.Remaining
		switch relaywire.Type(body) {
		case relaywire.TypeUpload:
			u, err := relaywire.ParseUpload(body)
			if err != nil {
				s.refuse(c, relaywire.CodeBadPrekey, "malformed prekey upload")
				return
			}
			if err := verifyUpload(owner, u); err != nil {
				s.refuse(c, relaywire.CodeBadPrekey, err.Error())
				return
			}
			rem, err = s.store.PutPrekeys(s.ctx, mb, u, s.cfg.Prekeys.MaxOneTime)
			if err != nil {
				s.log.Error("prekey upload failed", "err", err)
				s.refuse(c, relaywire.CodeUnavailable, "the relay cannot store prekeys right now")
				return
			}
			s.m.uploads.Inc()
		case relaywire.TypeCount:
			if relaywire.ParseCount(body) != nil {
				s.refuse(c, relaywire.CodeBadRequest, "malformed count")
				return
			}
			if rem, err = s.store.PrekeyCount(mb); err != nil {
				s.refuse(c, relaywire.CodeUnavailable, "the relay cannot count prekeys right now")
				return
			}
		default:
			s.refuse(c, relaywire.CodeBadRequest, "expected upload or count")
			return
		}
		if err := c.send(relaywire.AppendRemaining(nil, rem)); err != nil {
			c.st.Reset()
			return
		}
	}
}

// verifyUpload checks every signed key of an upload against the authenticated owner. The
// messages are fixed strings: they reach the peer.
func verifyUpload(owner *identity.PublicIdentity, u *relaywire.Upload) error {
	if u.SignedPrekey.Verify(owner) != nil {
		return errors.New("the signed prekey's signature does not verify")
	}
	if u.LastResort.Verify(owner) != nil {
		return errors.New("the last-resort prekey's signature does not verify")
	}
	for _, k := range u.PQOneTime {
		if k.Verify(owner) != nil {
			return errors.New("a PQ one-time prekey's signature does not verify")
		}
	}
	return nil
}
