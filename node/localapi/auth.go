package localapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// MaxSessions caps the web UI sessions the node keeps; a login beyond it ends the oldest.
const MaxSessions = 32

// Auth is the API's credentials, as the node keeps them (in its encrypted store).
type Auth struct {
	// Token is the bearer token of api.json.
	Token string
	// Sessions are the web UI's logins, oldest first.
	Sessions []Session
}

// Session is one web UI login: the cookie is random and the node keeps only its hash, so
// logging out (or rotating the token) ends it for good.
type Session struct {
	// Hash is the SHA-256 of the cookie's value, in hex.
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// Credentials a request was authenticated by, as kept in its context.
type credKey struct{}

const (
	credToken   = "token:"   // + the token's hash
	credSession = "session:" // + the session's hash
)

// credLiveLocked reports whether cred is still in effect. Called under s.mu.
func (s *Server) credLiveLocked(cred string) bool {
	if h, ok := strings.CutPrefix(cred, credSession); ok {
		return slices.ContainsFunc(s.auth.Sessions, func(x Session) bool { return x.Hash == h })
	}
	return cred == credToken+secretHash(s.auth.Token)
}

// bearer returns the token of an Authorization header of the Bearer scheme, whose name is
// case-insensitive (RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return h[len(scheme):], true
}

// authenticate checks the bearer token, the socket's ?token=, or the session cookie (with the
// CSRF header for state-changing methods), before anything reads the body. It returns the
// credential, or writes the error itself.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	if tok, ok := bearer(r.Header.Get("Authorization")); ok {
		if s.tokenOK(tok) {
			return credToken + secretHash(tok), true
		}
		refuse(w, r, http.StatusUnauthorized, codeUnauthorized, "invalid token")
		return "", false
	}
	if r.URL.Path == "/v1/ws" {
		if tok := r.URL.Query().Get("token"); tok != "" {
			if s.tokenOK(tok) {
				return credToken + secretHash(tok), true
			}
			refuse(w, r, http.StatusUnauthorized, codeUnauthorized, "invalid token")
			return "", false
		}
	}
	if c, err := r.Cookie(s.sessionCookie()); err == nil {
		if !s.sessionOK(c.Value) {
			refuse(w, r, http.StatusUnauthorized, codeUnauthorized, "invalid session")
			return "", false
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		default:
			if r.Header.Get(CSRFHeader) == "" {
				refuse(w, r, http.StatusForbidden, codeForbidden, "missing "+CSRFHeader+" header")
				return "", false
			}
		}
		return credSession + secretHash(c.Value), true
	}
	refuse(w, r, http.StatusUnauthorized, codeUnauthorized, "missing token")
	return "", false
}

func (s *Server) tokenOK(tok string) bool {
	s.mu.Lock()
	want := s.auth.Token
	s.mu.Unlock()
	return subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

// sessionOK reports whether a cookie value is a live session. The lookup is by a hash of the
// secret, so its timing tells nothing about it.
func (s *Server) sessionOK(v string) bool {
	h := secretHash(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.auth.Sessions, func(x Session) bool { return x.Hash == h })
}

func secretHash(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// setAuth saves a (the node's store, then api.json) and puts it in effect. Callers hold
// authMu, so that two changes cannot both start from the same old state.
func (s *Server) setAuth(ctx context.Context, a Auth) error {
	if s.cfg.SaveAuth != nil {
		if err := s.cfg.SaveAuth(ctx, a); err != nil {
			return fmt.Errorf("localapi: save credentials: %w", err)
		}
	}
	s.mu.Lock()
	s.auth = Auth{Token: a.Token, Sessions: slices.Clone(a.Sessions)}
	s.mu.Unlock()
	return nil
}

// currentAuth is a copy of the credentials in effect.
func (s *Server) currentAuth() Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Auth{Token: s.auth.Token, Sessions: slices.Clone(s.auth.Sessions)}
}

// postSession trades a bearer token (checked by authenticate) for a new session cookie.
func (s *Server) postSession(w http.ResponseWriter, r *http.Request) {
	v := rand.Text() + rand.Text() // 52 base32 characters, 260 bits
	s.authMu.Lock()
	a := s.currentAuth()
	a.Sessions = append(a.Sessions, Session{Hash: secretHash(v), Created: time.Now().UTC()})
	var ended []Session
	if n := len(a.Sessions) - MaxSessions; n > 0 {
		ended = slices.Clone(a.Sessions[:n])
		a.Sessions = a.Sessions[n:]
	}
	err := s.setAuth(r.Context(), a)
	s.authMu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, e := range ended {
		s.closeSockets(credSession+e.Hash, "session ended")
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.sessionCookie(),
		Value:    v,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

// deleteSession logs the web UI out: the session of the request's cookie ends on the node
// (that cookie is refused from now on, by every socket too) and the browser is told to drop it.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.sessionCookie()); err == nil {
		h := secretHash(c.Value)
		s.authMu.Lock()
		a := s.currentAuth()
		n := len(a.Sessions)
		a.Sessions = slices.DeleteFunc(a.Sessions, func(x Session) bool { return x.Hash == h })
		var err error
		if len(a.Sessions) != n {
			err = s.setAuth(r.Context(), a)
		}
		s.authMu.Unlock()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.closeSockets(credSession+h, "logged out")
	}
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// TokenRotation is the answer of POST /v1/token/rotate.
type TokenRotation struct {
	Token string `json:"token"`
}

// postTokenRotate replaces the token (api.json is rewritten by the node) and ends every
// session: the old token, every cookie and every open socket are refused from now on.
func (s *Server) postTokenRotate(w http.ResponseWriter, r *http.Request) {
	tok := NewToken()
	s.authMu.Lock()
	err := s.setAuth(r.Context(), Auth{Token: tok})
	s.authMu.Unlock()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.closeSockets("", "token rotated")
	writeJSON(w, http.StatusOK, TokenRotation{Token: tok})
}

// NewToken returns a fresh API token: 32 random bytes in hex, as petrel init makes one.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// closeSockets closes the open sockets that were opened with cred ("" for all of them).
func (s *Server) closeSockets(cred, reason string) {
	s.mu.Lock()
	var end []*wsConn
	for c, cr := range s.sockets {
		if cred == "" || cr == cred {
			end = append(end, c)
		}
	}
	s.mu.Unlock()
	for _, c := range end {
		c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, reason), time.Now().Add(time.Second))
		c.conn.Close()
	}
}
