package expiry

import (
	"context"
	"log/slog"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// batch bounds the messages one expiry transaction deletes.
const batch = 256

// recheck bounds how long Run sleeps without looking again (a clock that jumps is noticed
// within it).
const recheck = time.Minute

// Config is what Timers needs of the node (node/messenger fills it in).
type Config struct {
	Store  *store.Store
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger
	// NewID returns a new local message id (for system lines).
	NewID func() string
	// SaveLine stores system line msg of a conversation (contactID: its contact in a
	// direct chat) in tx and reports it (a message event).
	SaveLine func(tx *store.Tx, msg api.Message, contactID string) error
	// EmitConv reports conversation id as it is now (a conversation event).
	EmitConv func(tx *store.Tx, id string) error
	// Expire deletes message id at its expiry in tx: its content, media and indexes, and
	// reports it (a message_update with deleted true).
	Expire func(tx *store.Tx, id string) error
}

// Timers applies timer changes and runs the expiry loop. Create it with New.
type Timers struct {
	cfg  Config
	kick chan struct{}
}

// New returns Timers over cfg; Run deletes what expires.
func New(cfg Config) *Timers {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Timers{cfg: cfg, kick: make(chan struct{}, 1)}
}

func (t *Timers) now() int64 { return t.cfg.Now().UnixMilli() }

// Apply sets conv's timer to secs, changed by member uid (named name) at ts, unless a
// later change is in force already (the latest timestamp wins on every node): the
// conversation is saved, a system line stored ("Alice set messages to disappear after 1
// day") and both reported. incoming says the change came from another member.
func (t *Timers) Apply(tx *store.Tx, conv *history.Conversation, uid, name string, secs int64, ts hlc.Timestamp, incoming bool) error {
	tss := ts.String()
	if conv.DisappearTS != "" && tss <= conv.DisappearTS {
		return nil
	}
	conv.Disappear, conv.DisappearTS = secs, tss
	conv.UpdatedAt = max(conv.UpdatedAt, ts.Wall)
	if err := history.PutConversation(tx, conv); err != nil {
		return err
	}
	id := t.cfg.NewID()
	status := api.StatusSent
	if incoming {
		status = api.StatusDelivered
	}
	line := api.Message{
		ID: id, ConversationID: conv.ID, SenderID: uid, Body: Line(name, secs),
		Attachments: []api.Attachment{}, SentAt: ts.Wall, ReceivedAt: t.now(),
		Order: hlc.OrderKey(ts, uid+"-"+id), Status: status, Reactions: map[string][]string{},
		System: true,
	}
	if err := t.cfg.SaveLine(tx, line, conv.ContactID); err != nil {
		return err
	}
	return t.cfg.EmitConv(tx, conv.ID)
}

// Index writes msg's entry in the expiry index when its timer runs (with every write of
// the message), and wakes the loop once tx commits.
func (t *Timers) Index(tx *store.Tx, msg *api.Message) error {
	if msg.ExpiresAt == nil || msg.Deleted {
		return nil
	}
	if err := tx.Set(history.KeyExpiry(*msg.ExpiresAt, msg.ID), nil); err != nil {
		return err
	}
	tx.OnCommit(t.wake)
	return nil
}

func (t *Timers) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Run deletes messages as they expire until ctx ends (the caller's goroutine).
func (t *Timers) Run(ctx context.Context) {
	for {
		next, err := t.ExpireDue(ctx)
		if err != nil && ctx.Err() == nil {
			t.cfg.Logger.Warn("expiring messages", "err", err)
		}
		wait := recheck
		if next > 0 {
			wait = min(wait, time.Duration(next-t.now())*time.Millisecond)
		}
		tm := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-t.kick:
		case <-tm.C:
		}
		tm.Stop()
	}
}

// ExpireDue deletes every message whose expiry has come (Config.Expire) and returns the
// next expiry (Unix ms; 0 when none is set).
func (t *Timers) ExpireDue(ctx context.Context) (next int64, err error) {
	for {
		next = 0
		more := false
		err = t.cfg.Store.Update(ctx, func(tx *store.Tx) error {
			now := t.now()
			var due [][]byte
			err := tx.Iterate(store.IterOptions{Prefix: history.ExpiryPrefix}, func(k, _ []byte) (bool, error) {
				at, _, err := history.ParseExpiry(k)
				if err != nil {
					due = append(due, append([]byte(nil), k...)) // unreadable: drop it
					return true, nil
				}
				if at > now {
					next = at
					return false, nil
				}
				if len(due) == batch {
					more = true
					return false, nil
				}
				due = append(due, append([]byte(nil), k...))
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, k := range due {
				if err := tx.Delete(k); err != nil {
					return err
				}
				if _, id, err := history.ParseExpiry(k); err == nil {
					if err := t.cfg.Expire(tx, id); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil || !more {
			return next, err
		}
	}
}
