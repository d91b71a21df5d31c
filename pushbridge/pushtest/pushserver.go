package pushtest

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Answer is a scripted reply to one push.
type Answer struct {
	Status     int    // 0: 201
	RetryAfter string // the Retry-After header, if any
}

// Push is one push the server accepted or refused.
type Push struct {
	Endpoint  string // the full endpoint URL
	At        time.Time
	Status    int         // what the server answered
	Header    http.Header // the request's headers
	Body      []byte      // the encrypted body as received
	Plaintext []byte      // decrypted with the endpoint's subscription, if it has one
	VAPIDKey  []byte      // the application server key from the Authorization header
}

// PushServer is a local Web Push service (RFC 8030 push resource, RFC 8291 message
// encryption, RFC 8292 VAPID) which, with UnifiedPush set, also answers UnifiedPush
// discovery. A push without a valid VAPID JWT for its origin, without TTL or in another
// content coding is refused (401 / 400) and recorded as such.
type PushServer struct {
	URL         string
	UnifiedPush bool
	srv         *httptest.Server

	mu        sync.Mutex
	endpoints map[string]*endpoint // by path
	pushes    []Push
	probes    int
	changed   chan struct{}
}

type endpoint struct {
	sub     *Subscription
	answers []Answer
}

// NewPushServer starts a push service over plain HTTP on loopback (bridges must run with
// allow_private_endpoints to reach it); unifiedPush adds discovery.
func NewPushServer(unifiedPush bool) *PushServer {
	p := &PushServer{UnifiedPush: unifiedPush, endpoints: map[string]*endpoint{}, changed: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// Close stops the server.
func (p *PushServer) Close() { p.srv.Close() }

// NewEndpoint creates a push resource and returns its URL. sub, if not nil, decrypts what
// arrives there (a Web Push subscription's keys; for UnifiedPush the app's keys).
func (p *PushServer) NewEndpoint(sub *Subscription) string {
	var id [12]byte
	rand.Read(id[:])
	path := "/push/" + hex.EncodeToString(id[:])
	p.mu.Lock()
	p.endpoints[path] = &endpoint{sub: sub}
	p.mu.Unlock()
	return p.URL + path
}

// SetKeys sets the keys that decrypt pushes to url from now on (and decrypts those
// already received).
func (p *PushServer) SetKeys(url string, sub *Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.endpoints[strings.TrimPrefix(url, p.URL)]; e != nil {
		e.sub = sub
	}
	for i := range p.pushes {
		if p.pushes[i].Endpoint == url && p.pushes[i].Plaintext == nil {
			p.pushes[i].Plaintext, _ = sub.Decrypt(p.pushes[i].Body)
		}
	}
}

// Script queues answers for the next pushes to url (then 201 again).
func (p *PushServer) Script(url string, answers ...Answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.endpoints[strings.TrimPrefix(url, p.URL)]; e != nil {
		e.answers = append(e.answers, answers...)
	}
}

// Pushes returns every push received so far.
func (p *PushServer) Pushes() []Push {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Push(nil), p.pushes...)
}

// Probes counts discovery requests.
func (p *PushServer) Probes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes
}

// WaitPushes waits until at least n pushes arrived or ctx ends, and returns them.
func (p *PushServer) WaitPushes(ctx context.Context, n int) ([]Push, error) {
	for {
		p.mu.Lock()
		got, ch := append([]Push(nil), p.pushes...), p.changed
		p.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("pushtest: %d of %d pushes: %w", len(got), n, ctx.Err())
		case <-ch:
		}
	}
}

func (p *PushServer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	e := p.endpoints[r.URL.Path]
	p.mu.Unlock()
	if e == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if !p.UnifiedPush {
			http.Error(w, "push resources take POST", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.probes++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"unifiedpush":{"version":1}}`)
		return
	case http.MethodPost:
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<10))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	push := Push{Endpoint: p.URL + r.URL.Path, At: time.Now(), Header: r.Header.Clone(), Body: body}
	status := http.StatusCreated
	key, vapidErr := VerifyVAPID(r.Header.Get("Authorization"), p.URL, time.Now())
	push.VAPIDKey = key
	switch {
	case vapidErr != nil:
		status = http.StatusUnauthorized
	case r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "":
		status = http.StatusBadRequest
	case len(body) > 4096:
		status = http.StatusRequestEntityTooLarge
	}
	p.mu.Lock()
	if status == http.StatusCreated && len(e.answers) > 0 {
		a := e.answers[0]
		e.answers = e.answers[1:]
		if a.Status != 0 {
			status = a.Status
		}
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
	}
	if e.sub != nil {
		push.Plaintext, _ = e.sub.Decrypt(body)
	}
	push.Status = status
	p.pushes = append(p.pushes, push)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if status == http.StatusCreated {
		w.Header().Set("Location", push.Endpoint+"/m")
		w.WriteHeader(status)
		return
	}
	msg := http.StatusText(status)
	if vapidErr != nil {
		msg = vapidErr.Error()
	}
	http.Error(w, msg, status)
}

// VerifyVAPID checks an RFC 8292 Authorization header ("vapid t=JWT, k=KEY") for a push
// service at origin: an ES256 JWT signed by KEY whose aud is origin, exp in the future and
// at most 24 h away, and sub a mailto: or https: contact. It returns KEY.
func VerifyVAPID(auth, origin string, now time.Time) ([]byte, error) {
	rest, ok := strings.CutPrefix(auth, "vapid ")
	if !ok {
		return nil, errors.New("vapid: no vapid authorization")
	}
	var tok, k string
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "t="); ok {
			tok = v
		} else if v, ok := strings.CutPrefix(part, "k="); ok {
			k = v
		}
	}
	key, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || tok == "" {
		return nil, errors.New("vapid: missing t or k")
	}
	ek, err := ecdh.P256().NewPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("vapid: k: %w", err)
	}
	pub, err := ecdsaPublic(ek)
	if err != nil {
		return nil, err
	}
	_, claims, err := parseJWT(tok, es256(pub))
	if err != nil {
		return nil, fmt.Errorf("vapid: %w", err)
	}
	if aud, _ := claims["aud"].(string); aud != origin {
		return nil, fmt.Errorf("vapid: aud %q, want %q", aud, origin)
	}
	exp, ok := claimNum(claims, "exp")
	if !ok || exp <= now.Unix() || exp > now.Add(24*time.Hour).Unix() {
		return nil, errors.New("vapid: exp missing, past or more than 24 h ahead")
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return nil, fmt.Errorf("vapid: sub %q is not a mailto: or https: contact", sub)
	}
	return key, nil
}

// ecdsaPublic converts an uncompressed P-256 point to an ECDSA key.
func ecdsaPublic(k *ecdh.PublicKey) (*ecdsa.PublicKey, error) {
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Bytes())
	if err != nil {
		return nil, fmt.Errorf("vapid: key: %w", err)
	}
	return pub, nil
}
