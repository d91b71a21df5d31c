package eventlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

var (
	prefix  = []byte("ev/")
	lastKey = []byte("ev!last")
)

// Page sizes of Since: MaxPage caps how many events one call returns; DefaultPage is what the
// API serves when a reader names no limit.
const (
	MaxPage     = 1000
	DefaultPage = 100
)

// recentEvents is how many of the newest committed events Since serves from memory.
const recentEvents = 1024

// Log is the event log. Its zero value is not usable; call Open.
type Log struct {
	st *store.Store

	mu   sync.Mutex
	last uint64 // highest committed seq
	subs map[chan struct{}]struct{}
	// recent holds the newest committed events (consecutive seqs, the last one = last, at
	// most 2×recentEvents), so that a reader following the log, such as a UI's socket, is
	// served without opening a store transaction: that would wait for any commit in
	// flight, one more fsync on the way from a message's arrival to the UI.
	recent []api.Event
}

// Open loads the log's position from st.
func Open(st *store.Store) (*Log, error) {
	l := &Log{st: st, subs: make(map[chan struct{}]struct{})}
	err := st.View(func(tx *store.Tx) error {
		v, err := tx.Get(lastKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("eventlog: corrupt position record (%d bytes)", len(v))
		}
		l.last = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eventlog: open: %w", err)
	}
	return l, nil
}

// Append adds an event of the given kind with payload v (marshalled as JSON) inside tx and
// returns its seq. Subscribers are told once tx has committed durably. A disappearing
// message, as the payload or a conversation's last message, is logged without its content
// (withhold).
func (l *Log) Append(tx *store.Tx, kind string, v any) (uint64, error) {
	payload, err := json.Marshal(withhold(v))
	if err != nil {
		return 0, fmt.Errorf("eventlog: encode %s: %w", kind, err)
	}
	if len(kind) == 0 || len(kind) > 255 {
		return 0, fmt.Errorf("eventlog: bad kind %q", kind)
	}
	var last uint64
	switch b, err := tx.Get(lastKey); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, fmt.Errorf("eventlog: position: %w", err)
	case len(b) != 8:
		return 0, fmt.Errorf("eventlog: corrupt position record (%d bytes)", len(b))
	default:
		last = binary.BigEndian.Uint64(b)
	}
	seq := last + 1
	var pos [8]byte
	binary.BigEndian.PutUint64(pos[:], seq)
	if err := tx.Set(lastKey, pos[:]); err != nil {
		return 0, fmt.Errorf("eventlog: position: %w", err)
	}
	rec := make([]byte, 0, 1+len(kind)+len(payload))
	rec = append(rec, byte(len(kind)))
	rec = append(rec, kind...)
	rec = append(rec, payload...)
	if err := tx.Set(key(seq), rec); err != nil {
		return 0, fmt.Errorf("eventlog: append: %w", err)
	}
	tx.OnCommit(func() { l.committed(api.Event{Seq: seq, Kind: kind, Payload: payload}) })
	return seq, nil
}

func (l *Log) committed(ev api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.Seq > l.last {
		l.last = ev.Seq
	}
	if n := len(l.recent); n > 0 && l.recent[n-1].Seq+1 != ev.Seq {
		l.recent = l.recent[:0] // not consecutive (cannot happen: commits are in seq order)
	}
	if len(l.recent) == 2*recentEvents {
		l.recent = append(l.recent[:0], l.recent[recentEvents:]...)
	}
	l.recent = append(l.recent, ev)
	for c := range l.subs {
		select {
		case c <- struct{}{}:
		default: // already signalled; the reader will pull everything
		}
	}
}

// Last returns the highest committed seq (0 for an empty log).
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Since returns up to limit events with seq > since, ascending, and whether more follow.
// limit ≤ 0 or > MaxPage means MaxPage.
func (l *Log) Since(since uint64, limit int) ([]api.Event, bool, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	last := l.Last()
	var out []api.Event
	more := false
	if since >= last {
		return nil, false, nil
	}
	if out, more, ok := l.fromRecent(since, limit); ok {
		return out, more, nil
	}
	err := l.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: prefix, Start: key(since + 1)}, func(k, v []byte) (bool, error) {
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			if seq > last { // committed after we looked: the next call returns it
				return false, nil
			}
			if len(out) == limit {
				more = true
				return false, nil
			}
			ev, err := decode(seq, v)
			if err != nil {
				return false, err
			}
			out = append(out, ev)
			return true, nil
		})
	})
	if err != nil {
		return nil, false, fmt.Errorf("eventlog: read: %w", err)
	}
	if !more && len(out) > 0 && out[len(out)-1].Seq < last {
		more = true
	}
	return out, more, nil
}

// fromRecent is Since served from memory, if the events after since are all there.
func (l *Log) fromRecent(since uint64, limit int) ([]api.Event, bool, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) == 0 || l.recent[0].Seq > since+1 || l.recent[len(l.recent)-1].Seq != l.last {
		return nil, false, false
	}
	evs := l.recent[since+1-l.recent[0].Seq:]
	more := len(evs) > limit
	evs = evs[:min(len(evs), limit)]
	out := make([]api.Event, len(evs))
	for i, ev := range evs {
		out[i] = api.Event{Seq: ev.Seq, Kind: ev.Kind, Payload: bytes.Clone(ev.Payload)}
	}
	return out, more, true
}

func decode(seq uint64, v []byte) (api.Event, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return api.Event{}, fmt.Errorf("eventlog: corrupt event %d", seq)
	}
	n := int(v[0])
	return api.Event{Seq: seq, Kind: string(v[1 : 1+n]), Payload: json.RawMessage(v[1+n:])}, nil
}

// Subscribe returns a channel that receives a signal (coalesced, capacity one) whenever new
// events commit, and a function that cancels the subscription.
func (l *Log) Subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	l.mu.Lock()
	l.subs[c] = struct{}{}
	l.mu.Unlock()
	return c, func() {
		l.mu.Lock()
		delete(l.subs, c)
		l.mu.Unlock()
	}
}

func key(seq uint64) []byte {
	k := make([]byte, len(prefix)+8)
	copy(k, prefix)
	binary.BigEndian.PutUint64(k[len(prefix):], seq)
	return k
}
