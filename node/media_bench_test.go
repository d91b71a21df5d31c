package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// BenchmarkMediaTransfer measures MB/s of a 16 MiB file from the moment the sender's node
// stores it (Put) to the moment the receiver's node has it verified (available): from the
// sender's node, and from its relay with the sender stopped; beside a raw libp2p stream
// between two hosts on the same loopback in the same run.
//
//	go test -run '^$' -bench BenchmarkMediaTransfer -benchtime 3x ./node/
func BenchmarkMediaTransfer(b *testing.B) {
	const size = 16 << 20
	b.Run("raw-libp2p-stream", func(b *testing.B) {
		h1, h2 := bareHostB(b), bareHostB(b)
		h2.SetStreamHandler("/bench/raw", func(s network.Stream) {
			_, _ = io.Copy(io.Discard, s)
			_ = s.Close()
		})
		h1.Peerstore().AddAddrs(h2.ID(), h2.Addrs(), time.Hour)
		buf := make([]byte, size)
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			s, err := h1.NewStream(context.Background(), h2.ID(), protocol.ID("/bench/raw"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Write(buf); err != nil {
				b.Fatal(err)
			}
			_ = s.CloseWrite()
			_, _ = io.Copy(io.Discard, s) // until the other side closed: all read
			_ = s.Close()
		}
	})
	for _, via := range []string{"node-to-node", "via-relay"} {
		b.Run(via, func(b *testing.B) {
			ctx := context.Background()
			r := relaytest.Start(b, nil)
			alice, bob := nodetest.Start(b, "alice"), nodetest.Start(b, "bob")
			for _, n := range []*nodetest.Node{alice, bob} {
				n.Stop()
				n.Relays = []string{r.Info.Addrs[0]}
				n.Run()
			}
			toBob := nodetest.Befriend(b, alice, bob)
			b.SetBytes(size)
			var took, putTook time.Duration
			for i := range b.N {
				b.StopTimer()
				if via == "via-relay" && i > 0 {
					alice.Run()
				}
				file := testFile(b, size)
				b.StartTimer()
				start := time.Now()
				a, err := alice.Node.Media().Put(ctx, bytes.NewReader(file), "b.bin", "")
				if err != nil {
					b.Fatal(err)
				}
				putTook += time.Since(start)
				body := fmt.Sprintf("bench %d", i)
				if code, _ := sendAttachments(b, alice.Client, toBob.ConversationID, fmt.Sprintf("b%d", i), body, a.MediaID); code >= 300 {
					b.Fatalf("send: %d", code)
				}
				if via == "via-relay" {
					chunks := (size + media.ChunkSize - 1) / media.ChunkSize
					wait.For(b, "the relay holds the file", func() error {
						if got := int(relayMetricB(b, r, "petrel_relay_blob_puts_total")); got < chunks*(i+1) {
							return fmt.Errorf("%d puts", got)
						}
						return nil
					})
					alice.Stop()
				}
				wait.For(b, "bob has it", func() error {
					p, err := bob.Client.Messages(ctx, toBob.ConversationID, "", "", 200)
					if err != nil {
						return err
					}
					for _, m := range p.Messages {
						if m.Body == body && len(m.Attachments) == 1 && m.Attachments[0].State == string(media.Available) {
							return nil
						}
					}
					return fmt.Errorf("not yet")
				})
				took += time.Since(start)
			}
			b.ReportMetric(float64(size)*float64(b.N)/took.Seconds()/1e6, "MB/s-end-to-end")
			b.ReportMetric(float64(size)*float64(b.N)/putTook.Seconds()/1e6, "MB/s-put")
		})
	}
}

func bareHostB(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// relayMetricB is relayMetric for a benchmark.
func relayMetricB(tb testing.TB, r *relaytest.Relay, name string) float64 {
	tb.Helper()
	resp, err := http.Get(r.Info.Metrics + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		tb.Fatalf("no metric %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
