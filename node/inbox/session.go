package inbox

import (
	"errors"
	"log/slog"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// Sessions are a contact's two ratchet sessions as one receiving batch holds them (loaded
// and saved by node/sessions): Current sends and receives, Previous — the one Current
// replaced — only receives what was in flight on it.
type Sessions struct{ Current, Previous *ratchet.State }

// ErrNoSession: the contact has no session to decrypt with.
var ErrNoSession = errors.New("no session")

// Decrypt decrypts msg under Current, else under Previous; current reports that Current
// did. A failure is Current's error (ratchet.ErrReplay for a message it already took).
func (s *Sessions) Decrypt(msg []byte) (pt []byte, current bool, err error) {
	if s.Current == nil {
		return nil, false, ErrNoSession
	}
	pt, err = s.Current.Decrypt(msg)
	if err == nil {
		return pt, true, nil
	}
	if s.Previous != nil {
		if pt, err1 := s.Previous.Decrypt(msg); err1 == nil {
			return pt, false, nil
		}
	}
	return nil, false, err
}

// Take installs st, a session the contact's initial message started and whose first
// message decrypted, and reports whether it became Current. When both sides started a
// session at once (Current is ours and unanswered), both keep the same one (pqxdh.Resolve);
// otherwise the contact started over and st replaces Current, which becomes Previous.
func (s *Sessions) Take(st *ratchet.State) (current bool) {
	switch {
	case s.Current == nil:
		s.Current = st
	case s.Current.IsInitiator() && !s.Current.HasReceived():
		if pqxdh.Resolve(s.Current, st) == st {
			s.Current, s.Previous = st, s.Current
		} else {
			s.Previous = st
		}
	default:
		s.Current, s.Previous = st, s.Current
	}
	return s.Current == st
}

// Responder answers initial messages (the responder's side of PQXDH) in one receiving
// transaction. It loads the node's prekey store at most once, and saves it only when a
// session that decrypted used one-time prekeys up (Consume): a forged initial message burns
// nothing.
type Responder struct {
	ID  *identity.Identity
	Now func() time.Time
	Log *slog.Logger

	ps   *prekey.Store
	used bool
}

// Respond runs PQXDH for initial and decrypts msg, the first ratchet message it carries,
// changing nothing stored. st is nil when either fails (logged): the message is
// undecryptable. err is the store's.
func (r *Responder) Respond(tx *store.Tx, initial, msg []byte) (st *ratchet.State, used []uint32, pt []byte, err error) {
	if r.ps == nil {
		ps, err := sessions.LoadPrekeys(tx, r.ID, r.Now())
		if err != nil {
			return nil, nil, nil, err
		}
		r.ps = ps
	}
	st, used, err = pqxdh.Respond(r.ID, r.ps, initial, r.Now())
	if err != nil {
		r.Log.Info("initial message refused", "err", err)
		return nil, nil, nil, nil
	}
	if pt, err = st.Decrypt(msg); err != nil {
		r.Log.Info("initial message undecryptable", "err", err)
		return nil, nil, nil, nil
	}
	return st, used, pt, nil
}

// Consume uses up the one-time prekeys (ids from Respond) of a session that decrypted.
func (r *Responder) Consume(used []uint32) error {
	if r.ps == nil {
		return errors.New("inbox: prekeys consumed before any initial message")
	}
	if err := r.ps.Consume(used); err != nil {
		return err
	}
	r.used = true
	return nil
}

// Save writes the prekey store if Consume changed it since the last Save.
func (r *Responder) Save(tx *store.Tx) error {
	if !r.used {
		return nil
	}
	if err := sessions.SavePrekeys(tx, r.ps); err != nil {
		return err
	}
	r.used = false
	return nil
}
