package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localapi/mediaapi"
)

// Limits of the API (documented in docs/API.md).
const (
	// DefaultMaxBodyBytes caps JSON request bodies.
	DefaultMaxBodyBytes = 1 << 20
	// MaxFrameBytes caps one socket frame (API.md §5).
	MaxFrameBytes = 64 << 10
	// ShutdownGrace is how long a stopping server lets requests being handled finish.
	ShutdownGrace = 5 * time.Second
)

// EventSource is the event log as the API sees it.
type EventSource interface {
	Since(since uint64, limit int) ([]api.Event, bool, error)
	Last() uint64
	Subscribe() (<-chan struct{}, func())
}

// Backend is the node as the API sees it. Methods return errors wrapping node/api sentinels.
type Backend interface {
	Me(ctx context.Context) (api.Me, error)
	UpdateMe(ctx context.Context, p api.MePatch) (api.Me, error)
	Status(ctx context.Context) (api.Status, error)
	Events() EventSource
	Chat
}

// Chat is the messaging part of the node (API.md §4–5): contacts, conversations, messages.
type Chat interface {
	CreateInvite(ctx context.Context) (api.Invite, error)
	AddContact(ctx context.Context, link string, name *string) (c api.Contact, created bool, err error)
	Contacts(ctx context.Context) ([]api.Contact, error)
	Contact(ctx context.Context, id string) (api.Contact, error)
	UpdateContact(ctx context.Context, id string, p api.ContactPatch) (api.Contact, error)
	Conversations(ctx context.Context, cursor string, limit int) (api.ConversationPage, error)
	Conversation(ctx context.Context, id string) (api.Conversation, error)
	Messages(ctx context.Context, convID, before, after string, limit int) (api.MessagePage, error)
	// Message is one message by id (§9: events withhold a disappearing one's content).
	Message(ctx context.Context, id string) (api.Message, error)
	// SetDisappear sets a conversation's timer (§9: 0 off, else 5 s to 90 days: 400
	// otherwise; a group's non-admins get 403) and returns the conversation as it then is.
	SetDisappear(ctx context.Context, convID string, secs int64) (api.Conversation, error)
	Send(ctx context.Context, req api.SendRequest) (m api.Message, repeat bool, err error)
	MarkRead(ctx context.Context, convID, upTo string) error
	Edit(ctx context.Context, id, body string) (api.Message, error)
	Delete(ctx context.Context, id string, forEveryone bool) (api.Message, error)
	React(ctx context.Context, id, emoji string, remove bool) (api.Message, error)
	Search(ctx context.Context, q, convID string, limit int) ([]api.Message, error)
	Settings(ctx context.Context) (api.Settings, error)
	UpdateSettings(ctx context.Context, p api.SettingsPatch) (api.Settings, error)
	// Typing tells the conversation's other members that the user is typing (ephemeral).
	Typing(ctx context.Context, convID, state string) error
	// Subscribe returns ephemeral socket frames (typing, presence) for every UI.
	Subscribe() (<-chan []byte, func())
	Groups
}

// Config configures a Server.
type Config struct {
	// Token is the bearer token UIs present (from api.json) when the server starts; a
	// rotation replaces it (see SaveAuth). Required.
	Token string
	// Sessions are the web UI's logins kept from earlier runs (see [Auth]).
	Sessions []Session
	// SaveAuth, when set, is called with the new credentials before a login, a logout or a
	// token rotation takes effect; an error leaves the old ones in effect. Nil keeps them in
	// memory only.
	SaveAuth func(context.Context, Auth) error
	// Limits bound connections and their deadlines; zero fields are the defaults.
	Limits Limits
	// Backend is the node. Required.
	Backend Backend
	// Logger; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Assets, when set, is the web UI served at / (issue 6).
	Assets fs.FS
}

// Server is the local API server.
type Server struct {
	cfg    Config
	limits Limits
	log    *slog.Logger
	mux    *http.ServeMux
	media  *mediaapi.Handlers // the media routes (docs/API.md §6)

	// authMu orders changes of the credentials: each is saved, then put in effect.
	authMu sync.Mutex

	mu      sync.Mutex
	auth    Auth               // credentials in effect
	sockets map[*wsConn]string // open sockets → the credential that opened them
	hosts   map[string]bool    // allowed Host header values, set by Serve
	anyIP   bool               // listening on every address: IP-literal hosts with the port too
	port    string
	// conns counts open sockets. A socket joins it under mu and only while !stopping, so
	// every Add is ordered before the shutdown's Wait (WaitGroup's rule for an Add from zero).
	conns    sync.WaitGroup
	stopping bool
}

// socketOpened adds an upgraded socket to conns, or reports false once shutdown has begun.
func (s *Server) socketOpened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.conns.Add(1)
	return true
}

// New returns a server; call Serve to run it.
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" || cfg.Backend == nil {
		return nil, errors.New("localapi: token and backend are required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, limits: cfg.Limits.withDefaults(), log: log, mux: http.NewServeMux(), hosts: map[string]bool{},
		auth: Auth{Token: cfg.Token, Sessions: slices.Clone(cfg.Sessions)}, sockets: map[*wsConn]string{}}
	s.media = mediaapi.New(cfg.Backend, mediaapi.Replies{
		Error: s.writeError, JSON: writeJSON,
		Code: func(w http.ResponseWriter, status int, err error) {
			code, _, msg := classify(err)
			writeErrorCode(w, status, code, msg)
		},
		Status: func(err error) (int, bool) {
			code, status, _ := classify(err)
			return status, code == codeInternal
		},
	}, log)
	for _, r := range s.routes() {
		s.mux.HandleFunc(r.pattern, r.handler)
	}
	return s, nil
}

// Listen opens the API's listener on addr (host:port; port 0 picks one). It refuses
// non-loopback addresses unless allowRemote is set.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("localapi: bad address %q: %w", addr, err)
	}
	if !allowRemote && !isLoopbackHost(host) {
		return nil, fmt.Errorf("localapi: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localapi: listen: %w", err)
	}
	return ln, nil
}

// Serve answers requests on ln until ctx is done, then shuts down gracefully: connections
// waiting for a request are closed at once, open sockets end with ctx, and requests being
// handled get ShutdownGrace to finish before their connections are cut too. A stop that
// had to cut requests is still a clean one (it is logged). It holds at most
// Limits.MaxConns connections of ln open.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.allowListener(ln.Addr())
	lim := newConnLimiter(ln, s.limits.MaxConns)
	srv := &http.Server{
		Handler:           tracked(s.Handler()),
		ReadHeaderTimeout: s.limits.HeaderTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       connContext,
		ConnState:         connState,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lim) }()
	select {
	case err := <-errc:
		return fmt.Errorf("localapi: %w", err)
	case <-ctx.Done():
	}
	if n := lim.cutWaiting(); n > 0 {
		s.log.Debug("shutdown: closed connections waiting for a request", "conns", n)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil { // sockets are hijacked: they end with ctx (BaseContext)
		// Requests still running after the grace period are cut; the server has stopped
		// all the same.
		s.log.Warn("shutdown: requests still running after the grace period were cut", "grace", ShutdownGrace, "err", err)
		srv.Close()
	}
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.conns.Wait()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("localapi: %w", err)
	}
	return nil
}

// allowListener records the Host header values that name this listener.
func (s *Server) allowListener(a net.Addr) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return
	}
	s.AllowPort(strconv.Itoa(tcp.Port), tcp.IP)
}

// AllowPort sets the port the Host check expects: loopback names with that port are accepted,
// plus ip itself when the API was told to listen on a non-loopback address. Serve calls it;
// tests that use Handler directly call it themselves.
func (s *Server) AllowPort(port string, ip net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.port = port
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		s.hosts[h+":"+port] = true
	}
	if ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		s.hosts[net.JoinHostPort(ip.String(), port)] = true
	}
	// Listening on every address: any IP literal with the port is this API (DNS rebinding
	// needs a host name, so IP literals are safe to accept); names other than localhost are
	// still refused.
	s.anyIP = ip != nil && ip.IsUnspecified()
}

// knownHost reports whether host (HOST:PORT, lower case) names this API. Called under s.mu.
func (s *Server) knownHost(host string) bool {
	if s.hosts[host] {
		return true
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil || port != s.port {
		return false
	}
	// Any IP literal of loopback is this API (API.md §2: "a loopback address"), and with
	// anyIP any IP literal at all: DNS rebinding needs a host name, so IP literals are safe.
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || s.anyIP)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
