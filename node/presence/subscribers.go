package presence

import "sync"

// subscriberQueue is the room each subscriber has for frames it has not read yet, beside
// the frames it is given first.
const subscriberQueue = 64

// Subscribers hands ephemeral socket frames (presence, typing) to the UIs subscribed. A
// UI that is not reading misses a frame (it is ephemeral): Publish never waits. The zero
// Subscribers is ready.
type Subscribers struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

// Publish hands frame to every subscriber with room for it.
func (s *Subscribers) Publish(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- frame:
		default:
		}
	}
}

// Subscribe returns a channel of the frames published from now on, after first, and the
// cancel that ends the subscription.
func (s *Subscribers) Subscribe(first [][]byte) (<-chan []byte, func()) {
	ch := make(chan []byte, subscriberQueue+len(first))
	for _, f := range first {
		ch <- f
	}
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan []byte]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}
