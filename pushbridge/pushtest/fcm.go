package pushtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// FCMPush is one messages:send request the fake accepted or refused.
type FCMPush struct {
	Token  string
	Body   []byte // the request body as sent
	Status int
}

// FCM is a local FCM HTTP v1 API with its OAuth 2.0 token endpoint. The token endpoint
// takes a JWT bearer grant signed (RS256) by the service account's key, for the
// firebase.messaging scope, and issues an access token; messages:send takes only a bearer
// it issued, for its project, and answers 200, or 404 UNREGISTERED for tokens marked gone.
type FCM struct {
	URL     string
	Project string
	key     *rsa.PrivateKey
	email   string
	srv     *httptest.Server

	mu     sync.Mutex
	issued map[string]bool
	gone   map[string]bool
	pushes []FCMPush
	grants int
}

// NewFCM starts the fake with a fresh service account for project.
func NewFCM(project string) (*FCM, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	f := &FCM{Project: project, key: k, email: "bridge@" + project + ".iam.gserviceaccount.com",
		issued: map[string]bool{}, gone: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	return f, nil
}

// Close stops the server.
func (f *FCM) Close() { f.srv.Close() }

// ServiceAccountJSON is the key file of the fake's service account (token_uri is the fake).
func (f *FCM) ServiceAccountJSON() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(f.key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": f.Project, "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.email, "client_id": "1", "token_uri": f.URL + "/token",
	})
	return b
}

// MarkGone makes token answer 404 UNREGISTERED.
func (f *FCM) MarkGone(token string) { f.mu.Lock(); f.gone[token] = true; f.mu.Unlock() }

// Pushes returns the messages:send requests received.
func (f *FCM) Pushes() []FCMPush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FCMPush(nil), f.pushes...)
}

// Grants counts access tokens issued.
func (f *FCM) Grants() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants
}

func (f *FCM) token(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, "unsupported_grant_type")
		return
	}
	_, claims, err := parseJWT(r.PostForm.Get("assertion"), rs256(&f.key.PublicKey))
	if err != nil {
		oauthError(w, "invalid_grant")
		return
	}
	exp, _ := claimNum(claims, "exp")
	scope, _ := claims["scope"].(string)
	if claims["iss"] != f.email || claims["aud"] != f.URL+"/token" || exp < time.Now().Unix() ||
		!strings.Contains(scope, "https://www.googleapis.com/auth/firebase.messaging") {
		oauthError(w, "invalid_grant")
		return
	}
	var b [16]byte
	rand.Read(b[:])
	tok := "ya29." + hex.EncodeToString(b[:])
	f.mu.Lock()
	f.issued[tok] = true
	f.grants++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func oauthError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (f *FCM) send(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<10))
	var m struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	p := FCMPush{Body: body}
	status, errStatus, code := http.StatusOK, "", ""
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	authorized := f.issued[bearer]
	f.mu.Unlock()
	switch {
	case !authorized:
		status, errStatus = http.StatusUnauthorized, "UNAUTHENTICATED"
	case r.PathValue("project") != f.Project:
		status, errStatus = http.StatusForbidden, "PERMISSION_DENIED"
	case json.Unmarshal(body, &m) != nil || json.Unmarshal(m.Message["token"], &p.Token) != nil || p.Token == "":
		status, errStatus = http.StatusBadRequest, "INVALID_ARGUMENT"
	}
	if status == http.StatusOK {
		f.mu.Lock()
		if f.gone[p.Token] {
			status, errStatus, code = http.StatusNotFound, "NOT_FOUND", "UNREGISTERED"
		}
		f.mu.Unlock()
	}
	p.Status = status
	f.mu.Lock()
	f.pushes = append(f.pushes, p)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusOK {
		fmt.Fprintf(w, `{"name":"projects/%s/messages/1"}`, f.Project)
		return
	}
	w.WriteHeader(status)
	e := map[string]any{"code": status, "status": errStatus, "message": errStatus}
	if code != "" {
		e["details"] = []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}}
	}
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}
