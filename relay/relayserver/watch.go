package relayserver

import "sync"

// watchers maps a mailbox to the watch streams of its owner. notify is called by the store's
// writer after a deposit is durable and must not block: each watcher holds at most one
// pending notice, the latest count.
type watchers struct {
	max int

	mu sync.Mutex
	m  map[string]map[*watcher]struct{}
}

type watcher struct {
	ch chan uint64 // capacity 1: the latest waiting count
}

func newWatchers(max int) *watchers {
	return &watchers{max: max, m: map[string]map[*watcher]struct{}{}}
}

// add registers a watcher for mailbox, or returns nil when it has max already.
func (ws *watchers) add(mailbox []byte) *watcher {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	set := ws.m[string(mailbox)]
	if len(set) >= ws.max {
		return nil
	}
	if set == nil {
		set = map[*watcher]struct{}{}
		ws.m[string(mailbox)] = set
	}
	w := &watcher{ch: make(chan uint64, 1)}
	set[w] = struct{}{}
	return w
}

func (ws *watchers) remove(mailbox []byte, w *watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	set := ws.m[string(mailbox)]
	delete(set, w)
	if len(set) == 0 {
		delete(ws.m, string(mailbox))
	}
}

func (ws *watchers) notify(mailbox []byte, waiting uint64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.m[string(mailbox)] {
		select {
		case <-w.ch: // replace an unsent notice with the newer count
		default:
		}
		w.ch <- waiting
	}
}

func (ws *watchers) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	n := 0
	for _, set := range ws.m {
		n += len(set)
	}
	return n
}
