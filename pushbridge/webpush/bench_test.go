package webpush_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
)

// manyRegs is a registry of one Web Push registration per owner.
type manyRegs struct{ targets map[string]bridge.Target }

func (m *manyRegs) Targets(owner []byte) ([]bridge.Target, time.Time, error) {
	return []bridge.Target{m.targets[string(owner)]}, time.Time{}, nil
}
func (m *manyRegs) MarkDead(string, string, string) {}

// BenchmarkPushSend: pushes per second one bridge sends to a local receiver (RFC 8291
// encryption and a VAPID JWT per push, 16 workers, keep-alive HTTP/1.1), one push per
// registration so nothing coalesces; beside the same client posting the same number of
// bare 3072-byte bodies with 16 goroutines to the same receiver.
func BenchmarkPushSend(b *testing.B) {
	const k = 2000
	var got atomic.Int64
	done := make(chan struct{}, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		if got.Add(1)%k == 0 {
			done <- struct{}{}
		}
	}))
	defer recv.Close()
	client := bridge.GuardedClient(true, 30*time.Second)
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 32
	v, _ := webpush.GenerateVAPID()
	s := &webpush.Sender{VAPID: v, Subject: "mailto:bench@relay.example", Client: client, AllowPrivate: true}
	sub, _ := pushtest.NewSubscription()
	reg := &manyRegs{targets: map[string]bridge.Target{}}
	for i := range k {
		o := fmt.Sprint(i)
		reg.targets[o] = bridge.Target{Owner: o, ID: "r", Kind: bridge.KindWebPush, Endpoint: recv.URL + "/p/" + o, P256dh: sub.P256dh(), Auth: sub.Auth}
	}
	env := bytes.Repeat([]byte{0xab}, 600)
	var pushRate, postRate float64
	for b.Loop() {
		br, _ := bridge.New(bridge.Config{Senders: map[string]bridge.Sender{bridge.KindWebPush: s}, Registry: reg})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { br.Run(ctx) })
		t0 := time.Now()
		for i := range k {
			br.Notify([]byte(fmt.Sprint(i)), env)
		}
		<-done
		pushRate = k / time.Since(t0).Seconds()
		cancel()
		wg.Wait()

		body := bytes.Repeat([]byte{1}, bridge.RecordSize)
		t0 = time.Now()
		var next atomic.Int64
		var pw sync.WaitGroup
		for range bridge.DefaultWorkers {
			pw.Go(func() {
				for next.Add(1) <= k {
					resp, err := client.Post(recv.URL+"/p/x", "application/octet-stream", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		pw.Wait()
		<-done
		postRate = k / time.Since(t0).Seconds()
	}
	b.ReportMetric(pushRate, "pushes/s")
	b.ReportMetric(postRate, "bare-posts/s")
	b.ReportMetric(postRate/pushRate, "x-bare")
}
