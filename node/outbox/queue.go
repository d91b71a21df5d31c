package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// Delivery parameters.
const (
	// Window is how many Deliver frames may await their Ack on one stream (the receiver
	// reads ahead as far).
	Window = 256
	window = Window
	// AckTimeout fails a stream whose receiver acknowledges nothing for this long.
	AckTimeout = 30 * time.Second
	// idleLinger keeps an emptied stream open this long for the next message.
	idleLinger = 3 * time.Second
	// backoffBase and backoffMax bound the retry delay (doubling, with ±25% jitter).
	backoffBase = 250 * time.Millisecond
	backoffMax  = 30 * time.Second
	// ExpireAfter fails a content its recipient has not taken for this long.
	ExpireAfter = 30 * 24 * time.Hour
	// dialTimeout bounds connecting to a contact.
	dialTimeout = 10 * time.Second
)

// errSessionReset ends a delivery whose receiver could not decrypt what it got: the session
// was set aside, and the worker starts a new one and sends the contents again.
var errSessionReset = errors.New("the contact's node could not decrypt our messages: starting a new session")

// ErrNoRelay says a contact has no home relay (or the node no relay client).
var ErrNoRelay = errors.New("the contact has no home relay")

// Contacts is what the outbox reads and changes in the address book.
type Contacts interface {
	// Contact returns contact cid as the outbox needs it (an error if there is none).
	Contact(tx *store.Tx, cid string) (Contact, error)
	// ForgetInitial drops our PQXDH initial message for contact cid (its session was set
	// aside: the next one carries its own).
	ForgetInitial(tx *store.Tx, cid string) error
}

// Stream is a message stream (wire.MessageProtocol) to a contact's node.
type Stream interface {
	io.Reader
	io.Writer
	// Reset closes the stream both ways, dropping what is unread.
	Reset() error
}

// Mailbox leaves sealed mail at a contact's home relays (node/messenger's RelayLink).
type Mailbox interface {
	// MailboxID is the mailbox id of a user at any relay.
	MailboxID(user *identity.PublicIdentity) []byte
	// Deposit leaves sealed envelopes for one mailbox at relay, pipelined. errs[i] is nil
	// once the relay stored envelope i durably; err means the exchange itself failed.
	Deposit(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte) (errs []error, err error)
}

// ExpiringMailbox is a Mailbox whose deposits can expire at the relay (disappearing
// messages): expires[i] is when envelope i expires (Unix ms; 0 none). The outbox uses it
// when it is implemented and a deposit has an expiry.
type ExpiringMailbox interface {
	DepositExpiring(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte, expires []int64) (errs []error, err error)
}

// Config is what a Queue works with.
type Config struct {
	Store    *store.Store
	Ratchets *sessions.Cache // the contacts' sessions
	Contacts Contacts
	// Session starts a session with contact cid unless one exists.
	Session func(ctx context.Context, cid string) error
	// Dial opens a message stream to contact cid's node.
	Dial func(ctx context.Context, cid string) (Stream, error)
	// Status moves the status of message msgID in tx (api.Status*; failed is final, with
	// reason) and reports it.
	Status func(tx *store.Tx, msgID, status, reason string) error
	// Mailbox and Identity (ours, sealing deposits as from us) make deposits at the
	// contact's relays when its node cannot be reached; Mailbox nil: direct only.
	Mailbox  Mailbox
	Identity *identity.Identity
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
	// Sealer opens the disappearing contents sealed at rest (Entry.Sealed); nil: none are.
	Sealer Sealer
}

// Queue runs one delivery worker per contact with pending contents, until its context
// ends; Wait waits for them.
type Queue struct {
	cfg Config
	ctx context.Context

	mu       sync.Mutex
	workers  map[string]*worker
	wg       sync.WaitGroup
	stopping bool // set under mu before wg.Wait; no worker is added after
}

type worker struct {
	cid  string
	wake chan struct{}
}

// New returns a Queue whose workers run until ctx ends. Kick starts them.
func New(ctx context.Context, cfg Config) *Queue {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, ctx: ctx, workers: map[string]*worker{}}
}

// Kick makes sure a worker delivers contact cid's outbox.
func (q *Queue) Kick(cid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ctx.Err() != nil || q.stopping {
		return
	}
	if w := q.workers[cid]; w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	w := &worker{cid: cid, wake: make(chan struct{}, 1)}
	q.workers[cid] = w
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.run(w)
	}()
}

// Wake wakes contact cid's worker if it runs (its node just connected), skipping its
// backoff.
func (q *Queue) Wake(cid string) {
	q.mu.Lock()
	w := q.workers[cid]
	q.mu.Unlock()
	if w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Wait waits for the workers to end (once the context ended); no worker starts after.
func (q *Queue) Wait() {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	q.wg.Wait()
}

// run delivers until the contact's outbox is empty, retrying with backoff.
func (q *Queue) run(w *worker) {
	attempt := 0
	for {
		progress, err := q.deliver(w)
		if errors.Is(err, errSessionReset) {
			q.cfg.Logger.Info("new session for undecryptable contents", "contact", w.cid)
			continue // bounded: each content is sent under at most MaxSessionResets new sessions
		}
		if err != nil && q.ctx.Err() == nil && q.relayFallback(w.cid) {
			// The contact's node is out of reach: leave the mail at its relays.
			n, derr := q.depositAll(w.cid)
			progress += n
			if derr == nil {
				q.cfg.Logger.Debug("delivered to the contact's mailbox", "contact", w.cid, "n", n, "direct", err)
				err = nil
			} else {
				err = fmt.Errorf("%w; mailbox: %w", err, derr)
			}
		}
		if err == nil {
			q.mu.Lock()
			select {
			case <-w.wake:
				q.mu.Unlock()
				continue
			default:
				delete(q.workers, w.cid)
				q.mu.Unlock()
				return
			}
		}
		if q.ctx.Err() != nil {
			return
		}
		if progress > 0 {
			attempt = 0
		}
		d := backoff(attempt)
		attempt++
		q.cfg.Logger.Warn("delivery failed, retrying", "contact", w.cid, "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-q.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-w.wake:
			t.Stop()
		}
	}
}

// backoff is the delay before retry attempt n: exponential with ±25% jitter.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 20 {
		d = min(backoffBase<<n, backoffMax)
	}
	return d - d/4 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

// contact loads contact cid.
func (q *Queue) contact(cid string) (Contact, error) {
	var c Contact
	err := q.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		c, err = q.cfg.Contacts.Contact(tx, cid)
		return err
	})
	return c, err
}

// relayFallback reports whether a failed direct delivery to contact cid should go to the
// contact's relays instead.
func (q *Queue) relayFallback(cid string) bool {
	if q.cfg.Mailbox == nil {
		return false
	}
	c, err := q.contact(cid)
	return err == nil && len(c.Relays) > 0 && !c.Blocked
}
