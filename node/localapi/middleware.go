package localapi

import (
	"context"
	"net/http"
	"strings"
)

const (
	// sessionCookiePrefix + the API's port names the web UI's session cookie (HttpOnly,
	// SameSite=Strict). Browsers scope cookies by host, not port: two nodes on 127.0.0.1 (the
	// demo) would overwrite each other's cookie if it had one fixed name.
	sessionCookiePrefix = "petrel_session_"
	// CSRFHeader must accompany state-changing requests authenticated by the cookie alone.
	// A foreign page cannot send a custom header without a CORS preflight we never answer.
	CSRFHeader = "X-Petrel-CSRF"
)

// Handler returns the whole chain: body deadline → host check → security headers → routing
// (→ auth inside /v1/).
func (s *Server) Handler() http.Handler {
	return s.bodyDeadline(s.hostCheck(securityHeaders(http.HandlerFunc(s.route))))
}

// sessionCookie is the name of this API's session cookie.
func (s *Server) sessionCookie() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sessionCookiePrefix + s.port
}

// hostCheck refuses requests whose Host is not this API (DNS rebinding), before anything else.
func (s *Server) hostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ok := s.knownHost(strings.ToLower(r.Host))
		s.mu.Unlock()
		if !ok {
			refuse(w, r, http.StatusMisdirectedRequest, codeMisdirected, "this API answers only to its own address (loopback unless told otherwise)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// connect-src names the socket's ws:// origin too (older browsers do not count it as
		// 'self'); r.Host has passed hostCheck, so it is one of our own loopback names.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self' ws://"+strings.ToLower(r.Host)+"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// route dispatches: /v1/ through auth to the route table; everything else to the web UI.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		s.serveAssets(w, r)
		return
	}
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		if s.pathKnown(r) {
			refuse(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed")
			return
		}
		refuse(w, r, http.StatusNotFound, codeNotFound, "no such endpoint")
		return
	}
	cred, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	trustConn(r)
	r = r.WithContext(context.WithValue(r.Context(), credKey{}, cred))
	s.mux.ServeHTTP(w, r) // (not the Handler above: ServeHTTP sets the path values)
}

// pathKnown reports whether r's path has a route under some other method.
func (s *Server) pathKnown(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" {
			return true
		}
	}
	return false
}

// serveAssets serves the web UI when one is configured.
func (s *Server) serveAssets(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.sessionCookie()); err == nil && s.sessionOK(c.Value) {
		trustConn(r) // the web UI loading its files
	}
	if s.cfg.Assets == nil {
		writeErrorCode(w, http.StatusNotFound, codeNotFound, "no web UI in this build")
		return
	}
	http.FileServerFS(s.cfg.Assets).ServeHTTP(w, r)
}
