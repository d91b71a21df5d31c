package presence

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/wire"
)

type typingMark struct {
	state string
	at    time.Time
}

// Typing carries a typing signal from a UI to the conversation's other members:
// ephemeral (never stored), rate-limited (a repeated "start" within TypingRefresh is
// dropped), and it ends on the receiving side by itself after TypingTimeout. It goes
// only to the peers we are connected to (typing is not worth a dial per member), except
// in a conversation with one other peer.
func (l *Service) Typing(_ context.Context, convID, state string) error {
	if state != api.TypingStart && state != api.TypingStop {
		return api.Errorf(api.ErrBadRequest, `state must be "start" or "stop"`)
	}
	peers, err := l.book.Recipients(convID)
	if err != nil {
		return err
	}
	pids := make([]peer.ID, 0, len(peers))
	for _, p := range peers {
		if len(p.Addrs) > 0 {
			l.addAddrs(p.ID, p.Addrs)
		}
		pids = append(pids, p.ID)
	}
	now := time.Now()
	l.mu.Lock()
	last, h := l.sentTyp[convID], l.h
	if last.state == state && (state == api.TypingStop || now.Sub(last.at) < l.opts.TypingRefresh) || h == nil || l.closed {
		l.mu.Unlock()
		return nil
	}
	l.sentTyp[convID] = typingMark{state, now}
	l.mu.Unlock()
	var targets []peer.ID
	for _, pid := range pids {
		if len(pids) == 1 || h.Network().Connectedness(pid) == network.Connected {
			targets = append(targets, pid)
		}
	}
	l.sendTo(targets, &wire.Live{Type: wire.LiveTyping, Conv: convID, State: state})
	return nil
}
