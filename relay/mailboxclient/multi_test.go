package mailboxclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestDepositMultiAtARelayThatPredatesIt: a relay that does not know MultiDeposit answers
// the unexpected first frame as today's relays do (Result bad_request, then close); the
// client reports ErrBadRequest for the whole deposit, so the node deposits per member.
// A relay answering with the wrong number of codes is ErrProtocol.
func TestDepositMultiAtARelayThatPredatesIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		answer []byte
		want   error
	}{
		{"old relay", relaywire.AppendResult(nil, relaywire.Result{Code: relaywire.CodeBadRequest, Message: "a mailbox stream starts with a deposit or an auth frame"}), ErrBadRequest},
		{"two codes for one recipient", relaywire.AppendMultiResult(nil, []relaywire.Code{relaywire.OK, relaywire.OK}), ErrProtocol},
	} {
		relay, node := loopbackHost(t), loopbackHost(t)
		relay.SetStreamHandler(relaywire.MailboxProtocol, func(st network.Stream) {
			r, w := bufio.NewReader(st), bufio.NewWriter(st)
			if _, err := relaywire.ReadFrame(r, nil, 0); err != nil {
				st.Reset()
				return
			}
			relaywire.WriteFrame(w, tc.answer)
			w.Flush()
			st.Close()
		})
		if err := node.Connect(ctx, peer.AddrInfo{ID: relay.ID(), Addrs: relay.Addrs()}); err != nil {
			t.Fatal(err)
		}
		rs := []Recipient{{Mailbox: bytes.Repeat([]byte{1}, relaywire.MailboxIDSize), Header: []byte{1}}}
		if _, err := DepositMulti(ctx, node, relay.ID(), rs, []byte{1}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
