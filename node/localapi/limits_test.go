package localapi

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadlineEndsWithTheBody: the body deadline bounds sending the body, not the
// answer. A request whose body came in time is still being handled, with its context alive,
// after its deadline has passed; the barrier that shows the deadline has passed is a second
// connection, whose deadline was set later and whose body never comes, being refused.
// (Were the deadline left on the connection, net/http's read after the body would time out
// and cancel the request's context.)
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	s := &Server{cfg: Config{MaxBodyBytes: DefaultMaxBodyBytes}, limits: Limits{BodyTimeout: 200 * time.Millisecond}.withDefaults()}
	bodyRead := make(chan struct{})
	release := make(chan struct{})
	result := make(chan string, 2)
	h := s.bodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := s.decodeBody(w, r, &v); err != nil {
			writeErrorCode(w, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
		close(bodyRead)
		select {
		case <-r.Context().Done():
			result <- "the request's context was cancelled after its body was read"
		case <-release:
			result <- ""
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	long := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/", strings.NewReader(`{"a":1}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		long <- err
	}()
	select {
	case <-bodyRead:
	case <-ctx.Done():
		t.Fatal("the body was never read")
	}
	// The barrier: a body that never comes, its deadline set after the first one's.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400") {
		t.Fatalf("a body that never comes: %q %v, want 400 after the body deadline", line, err)
	}
	close(release)
	if msg := <-result; msg != "" {
		t.Fatal(msg)
	}
	if err := <-long; err != nil {
		t.Fatalf("the request whose body came in time: %v", err)
	}
}
