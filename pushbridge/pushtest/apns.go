package pushtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"crypto/elliptic"
)

// APNsKey is a provider key as Apple issues it: a P-256 key in a .p8 file.
type APNsKey struct {
	Key           *ecdsa.PrivateKey
	P8            []byte // PEM "PRIVATE KEY" (PKCS #8)
	KeyID, TeamID string
}

// NewAPNsKey makes a provider key with the given ids.
func NewAPNsKey(keyID, teamID string) (*APNsKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return &APNsKey{Key: k, P8: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), KeyID: keyID, TeamID: teamID}, nil
}

// APNsPush is one request the fake received.
type APNsPush struct {
	Token, Topic, PushType, Priority string
	Payload                          []byte
	Status                           int
	Reason                           string
}

// APNs is a local APNs provider API over HTTP/2 and TLS. It checks every request as
// Apple does (HTTP/2, the ES256 provider token for the key it knows, apns-topic, push
// type and priority) and answers 200, or 400 BadDeviceToken for tokens marked bad, 410
// Unregistered for tokens marked gone, 403 for a bad provider token.
type APNs struct {
	URL   string
	Certs *x509.CertPool // trust these to reach URL
	srv   *httptest.Server
	key   *APNsKey
	topic string

	mu     sync.Mutex
	bad    map[string]bool
	gone   map[string]bool
	pushes []APNsPush
}

// NewAPNs starts the fake for key and the app's topic (bundle id).
func NewAPNs(key *APNsKey, topic string) *APNs {
	a := &APNs{key: key, topic: topic, bad: map[string]bool{}, gone: map[string]bool{}}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.EnableHTTP2 = true
	a.srv.StartTLS()
	a.URL = a.srv.URL
	a.Certs = x509.NewCertPool()
	a.Certs.AddCert(a.srv.Certificate())
	return a
}

// Close stops the server.
func (a *APNs) Close() { a.srv.Close() }

// CertPEM is the server's certificate in PEM, for a client's root CAs.
func (a *APNs) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
}

// MarkBad makes token answer 400 BadDeviceToken; MarkGone 410 Unregistered.
func (a *APNs) MarkBad(token string)  { a.mu.Lock(); a.bad[token] = true; a.mu.Unlock() }
func (a *APNs) MarkGone(token string) { a.mu.Lock(); a.gone[token] = true; a.mu.Unlock() }

// Pushes returns what arrived.
func (a *APNs) Pushes() []APNsPush {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]APNsPush(nil), a.pushes...)
}

func (a *APNs) serve(w http.ResponseWriter, r *http.Request) {
	p := APNsPush{Topic: r.Header.Get("apns-topic"), PushType: r.Header.Get("apns-push-type"), Priority: r.Header.Get("apns-priority")}
	p.Token, _ = strings.CutPrefix(r.URL.Path, "/3/device/")
	p.Payload, _ = io.ReadAll(io.LimitReader(r.Body, 8<<10))
	status, reason := a.check(r, p)
	if status == 200 {
		a.mu.Lock()
		switch {
		case a.bad[p.Token]:
			status, reason = 400, "BadDeviceToken"
		case a.gone[p.Token]:
			status, reason = 410, "Unregistered"
		}
		a.mu.Unlock()
	}
	p.Status, p.Reason = status, reason
	a.mu.Lock()
	a.pushes = append(a.pushes, p)
	a.mu.Unlock()
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
	if status == 200 {
		w.WriteHeader(200)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"reason": reason}
	if status == 410 {
		body["timestamp"] = time.Now().UnixMilli()
	}
	json.NewEncoder(w).Encode(body)
}

// check validates a request as APNs would; 200 when it passes.
func (a *APNs) check(r *http.Request, p APNsPush) (int, string) {
	if r.ProtoMajor != 2 {
		return 400, "BadProtocol" // APNs speaks HTTP/2 only
	}
	if r.Method != http.MethodPost || p.Token == "" {
		return 405, "MethodNotAllowed"
	}
	if err := a.checkToken(r.Header.Get("authorization")); err != nil {
		return 403, "InvalidProviderToken"
	}
	if p.Topic != a.topic {
		return 400, "TopicDisallowed"
	}
	switch p.PushType {
	case "background":
		if p.Priority != "5" {
			return 400, "BadPriority" // background pushes must be priority 5
		}
		var body struct {
			Aps map[string]any `json:"aps"`
		}
		if json.Unmarshal(p.Payload, &body) != nil || body.Aps["content-available"] != float64(1) {
			return 400, "PayloadEmpty"
		}
	case "alert":
	default:
		return 400, "InvalidPushType"
	}
	return 200, ""
}

func (a *APNs) checkToken(auth string) error {
	tok, ok := strings.CutPrefix(auth, "bearer ")
	if !ok {
		return errors.New("no bearer")
	}
	hdr, claims, err := parseJWT(tok, es256(&a.key.Key.PublicKey))
	if err != nil {
		return err
	}
	if hdr["kid"] != a.key.KeyID || claims["iss"] != a.key.TeamID {
		return fmt.Errorf("kid %v iss %v", hdr["kid"], claims["iss"])
	}
	iat, ok := claimNum(claims, "iat")
	if !ok || time.Since(time.Unix(iat, 0)) > time.Hour || time.Until(time.Unix(iat, 0)) > time.Minute {
		return errors.New("iat outside the last hour")
	}
	return nil
}
