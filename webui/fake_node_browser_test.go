package webui_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/petrel-chat/petrel/webui"
)

// fakeNode is a stand-in for a node's local API, used only for what a real node cannot be
// made to do on demand yet: send typing and presence frames (they arrive with issue 7) and
// report a contact whose safety number changed. Everything else is tested against real
// nodes in TestWebUI.
type fakeNode struct {
	mu     sync.Mutex
	frames []map[string]any // client frames received
}

const (
	fakeMe   = "umeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	fakeThem = "uthemmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
	fakeConv = "cfake"
)

func (f *fakeNode) handler() http.Handler {
	reply := func(w http.ResponseWriter, v string) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(v))
	}
	contact := `{"id":"k1","user_id":"` + fakeThem + `","name":"Mallory Maybe","verified":false,"safety_number":"11111 22222 33333 44444 55555 66666 77777 88888 99999 00000 12345 67890","conversation_id":"` + fakeConv + `","blocked":false,"request":"accepted","identity_changed":true,"last_seen":null}`
	msg := `{"id":"m1","conversation_id":"` + fakeConv + `","client_msg_id":"x","sender_id":"` + fakeThem + `","body":"is this still you?","reply_to":null,"attachments":[],"sent_at":1795550000000,"received_at":1795550000000,"order":"o1","status":"read","receipts":{"delivered":1,"read":1,"total":1},"edited_at":null,"deleted":false,"reactions":{}}`
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(webui.Assets()))
	mux.HandleFunc("POST /v1/session", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /v1/events/latest", func(w http.ResponseWriter, r *http.Request) { reply(w, `{"seq":1}`) })
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"user_id":"`+fakeMe+`","name":"Me","peer_id":"p","addrs":[],"relays":[],"safety_fingerprint":"1"}`)
	})
	mux.HandleFunc("GET /v1/settings", func(w http.ResponseWriter, r *http.Request) { reply(w, `{"presence":"contacts","read_receipts":true}`) })
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"peers":1,"relays":[],"outbox":0,"uptime_s":1}`)
	})
	mux.HandleFunc("GET /v1/contacts", func(w http.ResponseWriter, r *http.Request) { reply(w, `{"contacts":[`+contact+`]}`) })
	mux.HandleFunc("GET /v1/conversations", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"conversations":[{"id":"`+fakeConv+`","type":"direct","name":"Mallory Maybe","members":[],"last_message":`+msg+`,"unread_count":0,"updated_at":1795550000000}],"next_cursor":null}`)
	})
	mux.HandleFunc("GET /v1/conversations/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"messages":[`+msg+`],"has_more":false}`)
	})
	mux.HandleFunc("GET /v1/ws", f.serveWS)
	return mux
}

func (f *fakeNode) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		var fr map[string]any
		if err := c.ReadJSON(&fr); err != nil {
			return
		}
		f.mu.Lock()
		f.frames = append(f.frames, fr)
		f.mu.Unlock()
		if fr["type"] == "hello" {
			for _, out := range []string{
				`{"type":"synced","seq":1}`,
				`{"type":"presence","user_id":"` + fakeThem + `","state":"online","last_seen":null}`,
				`{"type":"typing","conversation_id":"` + fakeConv + `","user_id":"` + fakeThem + `","state":"start"}`,
			} {
				if c.WriteMessage(websocket.TextMessage, []byte(out)) != nil {
					return
				}
			}
		}
	}
}

func (f *fakeNode) sawTyping() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.frames {
		if fr["type"] == "typing" && fr["state"] == "start" && fr["conversation_id"] == fakeConv {
			return true
		}
	}
	return false
}

// TestEphemeralFramesAndIdentityChange: presence dots, the typing indicator (both ways) and
// the changed-safety-number warnings, against a fake node (see fakeNode).
func TestEphemeralFramesAndIdentityChange(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	f := &fakeNode{}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	art := artifactDir(t)
	p := newPage(t, browser, "fake")
	p.navigate(srv.URL + "/#token=fake")
	p.wait("the online dot in the list", `document.querySelector('.conv-list li[data-id="`+fakeConv+`"] .dot.online')`)
	p.wait("typing in the list", `document.querySelector('.conv-list li[data-id="`+fakeConv+`"] .conv-last.typing')`)
	p.wait("the changed-identity tag in the list", `document.querySelector('.conv-list li[data-id="`+fakeConv+`"] .tag.warn')`)
	p.click(`.conv-list li[data-id="` + fakeConv + `"] a`)
	p.wait("typing in the chat header", "document.querySelector('.chat-sub.typing')?.textContent === 'typing…'")
	p.wait("the safety-number warning", "document.querySelector('.banner.warn')?.textContent.includes('safety number has changed')")
	p.shot(art, "identity-changed")
	p.typeInto(".compose-input", "wait")
	eventually(t, "the UI sends a typing frame", func() error {
		if !f.sawTyping() {
			return errors.New("no typing start frame yet")
		}
		return nil
	})
	p.click(".chat .pane-head a[aria-label^='Contact details']")
	p.wait("the warning on the contact screen", "document.querySelector('.contact .banner.warn')")
	p.wait("the safety number in 12 groups", "document.querySelectorAll('.safety span').length === 12")
	p.wait("online on the contact screen", "document.querySelector('.profile .muted')?.textContent === 'online'")
	p.wait("typing expired after 8 s without a new frame", "document.querySelector('.conv-list .conv-last.typing') === null")
}
