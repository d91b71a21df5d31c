package inbox

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Handler applies one decrypted content of the kind it was registered for, with b, the
// state of the receiving transaction the façade passes (its batch), and ts, the content's
// parsed timestamp. An error aborts the whole transaction: nothing of it is stored or
// acknowledged.
type Handler[B any] func(b B, ct *wire.Content, ts hlc.Timestamp) error

// Table maps a content kind (wire.Kind*) to its handler. The façade and the feature
// packages fill it in at setup (Register); Dispatch then runs one handler per content.
// A Table is read-only once the receiving starts, so it needs no lock.
type Table[B any] struct {
	log      *slog.Logger
	handlers map[string]Handler[B]
}

// NewTable returns an empty table that logs to log (nil: discard).
func NewTable[B any](log *slog.Logger) *Table[B] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Table[B]{log: log, handlers: map[string]Handler[B]{}}
}

// ErrRegistered: a kind already has a handler, or a handler is missing.
var ErrRegistered = errors.New("inbox: bad registration")

// Register makes h the handler of kind. A kind has one handler: registering it again, or
// registering an empty kind or a nil handler, is ErrRegistered (a setup mistake, reported
// rather than overwriting a handler).
func (t *Table[B]) Register(kind string, h Handler[B]) error {
	switch {
	case kind == "" || h == nil:
		return fmt.Errorf("%w: kind %q without a handler", ErrRegistered, kind)
	case t.handlers[kind] != nil:
		return fmt.Errorf("%w: kind %q registered twice", ErrRegistered, kind)
	}
	t.handlers[kind] = h
	return nil
}

// Handles reports whether kind has a handler.
func (t *Table[B]) Handles(kind string) bool { return t.handlers[kind] != nil }

// Dispatch runs the handler of ct's kind and reports whether there was one. A kind nobody
// registered (wire knows it, this node does not act on it) is logged and ignored: the
// content still counts as received (its sequence number is taken, the envelope is
// acknowledged as stored, so the sender does not send it again), and nothing else changes.
func (t *Table[B]) Dispatch(b B, ct *wire.Content, ts hlc.Timestamp) (handled bool, err error) {
	h := t.handlers[ct.Kind]
	if h == nil {
		t.log.Warn("content of a kind no handler takes: acknowledged and ignored", "kind", ct.Kind)
		return false, nil
	}
	return true, h(b, ct, ts)
}
