package localapi_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// TestEventPaging: GET /v1/events pages as docs/API.md says: no limit or limit=0 is the
// default page (100), a limit above 1000 is served as 1000, next is the last returned seq, or
// since when nothing follows it — a since beyond the log's end too.
func TestEventPaging(t *testing.T) {
	n := nodetest.Start(t, "alice")
	ctx := ctxT(t)
	// More events than the largest page: profile changes from 8 UIs at once.
	const total = eventlog.MaxPage + 50
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				if _, err := n.Client.SetName(ctx, fmt.Sprintf("a%d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var latest struct{ Seq uint64 }
	if err := n.Client.Do(ctx, "GET", "/v1/events/latest", nil, &latest); err != nil {
		t.Fatal(err)
	}
	if latest.Seq < total {
		t.Fatalf("latest seq %d, want at least %d", latest.Seq, total)
	}
	get := func(q string) api.EventPage {
		t.Helper()
		var p api.EventPage
		if err := n.Client.Do(ctx, "GET", "/v1/events?"+q, nil, &p); err != nil {
			t.Fatalf("events?%s: %v", q, err)
		}
		return p
	}
	for _, c := range []struct {
		q    string
		want int
		next uint64
	}{
		{"since=0", eventlog.DefaultPage, eventlog.DefaultPage},
		{"since=0&limit=0", eventlog.DefaultPage, eventlog.DefaultPage},
		{"since=10&limit=0", eventlog.DefaultPage, 10 + eventlog.DefaultPage},
		{"since=0&limit=1000", 1000, 1000},
		{"since=0&limit=1001", 1000, 1000},
		{"since=0&limit=1000000", 1000, 1000},
		{"since=5&limit=3", 3, 8},
		{fmt.Sprintf("since=%d&limit=5", latest.Seq-2), 2, latest.Seq},
		{fmt.Sprintf("since=%d", latest.Seq), 0, latest.Seq},
		{fmt.Sprintf("since=%d", latest.Seq+1000), 0, latest.Seq + 1000},
	} {
		p := get(c.q)
		if len(p.Events) != c.want || p.Next != c.next {
			t.Errorf("events?%s: %d events, next %d; want %d, next %d", c.q, len(p.Events), p.Next, c.want, c.next)
		}
		for i, ev := range p.Events {
			if i > 0 && ev.Seq != p.Events[i-1].Seq+1 {
				t.Errorf("events?%s: seq %d after %d", c.q, ev.Seq, p.Events[i-1].Seq)
			}
		}
	}
}
