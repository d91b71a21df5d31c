package relayserver_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// BenchmarkMultiDeposit: a group message for 500 offline members behind one relay, as one
// 500-recipient multi deposit (one body stored once, 500 headers) against 500 single
// deposits of sealed envelopes pipelined on one stream (the baseline), in alternating
// rounds in the same run; every deposit acknowledged only once durable. The payload is a
// short group envelope (300 bytes) or a long one (16 KiB). Reports mailbox entries stored per second both ways,
// their ratio and the bytes each way sends. Run with
//
//	go test -run XXX -bench MultiDeposit -benchtime 1x ./relay/relayserver
func BenchmarkMultiDeposit(b *testing.B) {
	for _, size := range []int{300, 16 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { benchMultiDeposit(b, size) })
	}
}

func benchMultiDeposit(b *testing.B, size int) {
	const members, rounds = 500, 15
	r := startRelay(b, benchConfig())
	owner := newNode(b, r)
	alice, err := identity.Generate()
	if err != nil {
		b.Fatal(err)
	}
	users := make([]user, members)
	for i := range users {
		users[i] = newUser(b)
		register(b, owner, r, users[i])
	}
	payload := strings.Repeat("g", size)
	// Sealing is the sender's work, done before either way is timed.
	rs, body := multiFor(b, alice, []byte(payload), users...)
	s := newSender(b)
	singles := make([]mailboxclient.Envelope, members)
	for i, u := range users {
		singles[i] = mailboxclient.Envelope{Mailbox: u.mb, Envelope: s.seal(b, u, payload)}
	}
	multiBytes := len(body)
	for _, x := range rs {
		multiBytes += len(x.Mailbox) + len(x.Header)
	}
	singleBytes := 0
	for _, e := range singles {
		singleBytes += len(e.Mailbox) + len(e.Envelope)
	}
	depositor := newNode(b, r)
	var multiT, singleT []float64
	b.ResetTimer()
	for range rounds {
		start := time.Now()
		errs, err := mailboxclient.DepositMulti(ctx, depositor, r.id(), rs, body)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
		multiT = append(multiT, time.Since(start).Seconds())
		start = time.Now()
		errs, err = mailboxclient.DepositBatch(ctx, depositor, r.id(), singles)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
		singleT = append(singleT, time.Since(start).Seconds())
	}
	b.StopTimer()
	slices.Sort(multiT)
	slices.Sort(singleT)
	multiRate := members / multiT[rounds/2]
	singleRate := members / singleT[rounds/2]
	b.ReportMetric(multiRate, "multi-entries/s")
	b.ReportMetric(singleRate, "single-deposits/s")
	b.ReportMetric(multiRate/singleRate, "x-single")
	b.ReportMetric(float64(multiBytes), "multi-bytes")
	b.ReportMetric(float64(singleBytes), "single-bytes")
	b.Logf("%d-byte payload, 500 recipients, median of %d rounds: one multi deposit %.1f ms (%.0f entries/s); 500 pipelined single deposits %.1f ms (%.0f/s); %.2f×",
		size, rounds, multiT[rounds/2]*1e3, multiRate, singleT[rounds/2]*1e3, singleRate, multiRate/singleRate)
	b.Logf("bytes sent: multi %d, singles %d; body stored once: %d bytes, %d per header", multiBytes, singleBytes, len(body), len(rs[0].Header))
}
