package messenger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Disappearing messages (docs/API.md §9): a conversation's timer, set with SetDisappear
// and carried to the other members (a KindDisappear content, pairwise in a direct chat, a
// group control from an admin in a group); each text carries the timer it was sent under
// (wire.Content.Expire); a message's expiry starts at sending for the sender and when it
// is read on a receiver's node (startReadTimer); runExpiry, owned by Run, deletes what is
// due.

// expiryBatch bounds the messages one expiry transaction deletes.
const expiryBatch = 256

// expiryRecheck bounds how long runExpiry sleeps without looking again (a clock that
// jumps is noticed within it).
const expiryRecheck = time.Minute

// startTimer gives msg, sent now (at, Unix ms) under a timer of secs (0: none), its expiry.
func startTimer(msg *api.Message, secs, at int64) {
	if secs <= 0 {
		return
	}
	exp := at + secs*1000
	msg.DisappearAfterS, msg.ExpiresAt = secs, &exp
}

// startReadTimer starts the timer of incoming message r, just read on this node: its
// expiry is stored with it, so it keeps running across restarts.
func (m *Messenger) startReadTimer(_ *store.Tx, r *history.Item) error {
	if r.M.DisappearAfterS <= 0 || r.M.ExpiresAt != nil {
		return nil
	}
	startTimer(&r.M, r.M.DisappearAfterS, m.nowMS())
	return nil
}

// expiredOnArrival reports whether a message sent at sentAt under a timer of secs had
// expired before it arrived (a member back after the expiry never shows it).
func (m *Messenger) expiredOnArrival(sentAt, secs int64) bool {
	return secs > 0 && sentAt+secs*1000 <= m.nowMS()
}

// putTombstone stores r as an expired message: no body, no index entry, no event. It is
// kept (with its id) so that a resend of it is recognised and dropped.
func (m *Messenger) putTombstone(tx *store.Tx, r *history.Item) error {
	wipe(r)
	return m.putMsg(tx, r, false)
}

// wipe empties every content field of r.
func wipe(r *history.Item) {
	r.M.Deleted, r.M.Body, r.M.ReplyTo, r.M.EditedAt = true, "", nil, nil
	r.M.Reactions, r.M.Attachments, r.ReactTS, r.EditTS = map[string][]string{}, []api.Attachment{}, nil, ""
}

// indexExpiry writes r's expiry index entry when its timer runs (putMsg).
func (m *Messenger) indexExpiry(tx *store.Tx, r *history.Item) error {
	if r.M.ExpiresAt == nil || r.M.Deleted {
		return nil
	}
	if err := tx.Set(history.KeyExpiry(*r.M.ExpiresAt, r.M.ID), nil); err != nil {
		return err
	}
	tx.OnCommit(m.kickExpiry)
	return nil
}

func (m *Messenger) kickExpiry() {
	select {
	case m.expiryKick <- struct{}{}:
	default:
	}
}

// SetDisappear sets conversation convID's disappearing-message timer to secs (0: off;
// else 5 s to 90 days): any member of a direct chat, a group's admins. The change shows
// as a system line and a conversation event here and on every member's node, and applies
// to messages sent after it.
func (m *Messenger) SetDisappear(ctx context.Context, convID string, secs int64) (api.Conversation, error) {
	if secs != 0 && (secs < wire.MinDisappear || secs > wire.MaxDisappear) {
		return api.Conversation{}, api.Errorf(api.ErrBadRequest, "disappear_after_s must be 0 (off) or %d to %d seconds", wire.MinDisappear, wire.MaxDisappear)
	}
	var out api.Conversation
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		conv, err := history.GetConversation(tx, convID)
		if err != nil {
			return err
		}
		var c *sessions.Contact
		if conv.Type == api.ConversationGroup {
			g, err := groups.Load(tx, convID)
			if err != nil {
				return err
			}
			me := g.Member(m.uid)
			if !g.Me || me == nil {
				return api.Errorf(api.ErrForbidden, "you are not a member of this group")
			}
			if me.Role != api.RoleAdmin {
				return api.Errorf(api.ErrForbidden, "only the group's admins may set its disappearing-message timer")
			}
		} else if c, err = sessions.LoadContact(tx, conv.ContactID); err != nil {
			return err
		}
		if conv.Disappear != secs {
			ts := m.clock.Now()
			if err := m.applyDisappear(tx, conv, m.uid, m.cfg.Profile(), secs, ts, false); err != nil {
				return err
			}
			ct := &wire.Content{Kind: wire.KindDisappear, TS: ts.String(), Expire: uint32(secs)}
			if c == nil {
				err = m.sendGroupControl(tx, convID, ct)
			} else {
				err = m.enqueue(tx, c, ct, "")
			}
			if err != nil {
				return err
			}
		}
		out, err = m.apiConv(tx, convID)
		return err
	})
	return out, err
}

// applyDisappear sets conv's timer to secs by member uid (named name) at ts, unless a later
// change is already applied: the conversation is saved, a system line stored and both
// reported to the UIs.
func (m *Messenger) applyDisappear(tx *store.Tx, conv *history.Conversation, uid, name string, secs int64, ts hlc.Timestamp, incoming bool) error {
	tss := ts.String()
	if conv.DisappearTS != "" && tss <= conv.DisappearTS {
		return nil
	}
	conv.Disappear, conv.DisappearTS = secs, tss
	conv.UpdatedAt = max(conv.UpdatedAt, ts.Wall)
	if err := history.PutConversation(tx, conv); err != nil {
		return err
	}
	id := api.NewID("m")
	status := api.StatusSent
	if incoming {
		status = api.StatusDelivered
	}
	line := api.Message{
		ID: id, ConversationID: conv.ID, SenderID: uid, Body: disappearLine(name, secs),
		Attachments: []api.Attachment{}, SentAt: ts.Wall, ReceivedAt: m.nowMS(),
		Order: hlc.OrderKey(ts, uid+"-"+id), Status: status, Reactions: map[string][]string{},
		System: true,
	}
	if err := m.putMsg(tx, &history.Item{M: line, ContactID: conv.ContactID}, true); err != nil {
		return err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, line); err != nil {
		return err
	}
	return m.emitConv(tx, conv.ID)
}

// rxDisappear applies a contact's change of the direct chat's timer.
func (m *Messenger) rxDisappear(b *inbox.Batch, ct *wire.Content, ts hlc.Timestamp) error {
	conv, c := b.Conversation(), b.Contact()
	if conv == nil || conv.Type != api.ConversationDirect {
		return nil
	}
	b.ConversationChanged()
	return m.applyDisappear(b.Tx(), conv, c.UserID, c.Name, int64(ct.Expire), ts, true)
}

// rxGroupDisappear applies a member's change of group gid's timer if they are an admin
// of it in our state of the group (anyone else's is ignored).
func (m *Messenger) rxGroupDisappear(tx *store.Tx, gid, uid string, ct *wire.Content, ts hlc.Timestamp) error {
	g, err := groups.Load(tx, gid)
	if err != nil {
		return err
	}
	mb := g.Member(uid)
	if mb == nil || mb.Role != api.RoleAdmin {
		m.log.Info("disappearing-message timer from a non-admin ignored", "group", gid, "from", uid)
		return nil
	}
	conv, err := history.GetConversation(tx, gid)
	if err != nil {
		return err
	}
	name := mb.Name
	if cid, _ := store.GetString(tx, contacts.KeyByUser(uid)); cid != "" {
		if c, err := sessions.LoadContact(tx, cid); err == nil && c.NameSet {
			name = c.Name
		}
	}
	return m.applyDisappear(tx, conv, uid, name, int64(ct.Expire), ts, true)
}

// disappearLine is the system line of a timer change.
func disappearLine(name string, secs int64) string {
	if name == "" {
		name = "Someone"
	}
	if secs == 0 {
		return name + " turned off disappearing messages"
	}
	return name + " set messages to disappear after " + DurationWords(secs)
}

// DurationWords says a timer in words: "30 seconds", "1 day", "1 week", "90 days".
func DurationWords(secs int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{7 * 86400, "week"}, {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}} {
		if secs%u.n == 0 && secs >= u.n {
			n := secs / u.n
			if u.n == 7*86400 && n > 4 {
				continue // 90 days reads better than 12.86 weeks; 8 weeks as 56 days
			}
			if n == 1 {
				return "1 " + u.name
			}
			return fmt.Sprintf("%d %ss", n, u.name)
		}
	}
	return fmt.Sprintf("%d seconds", secs)
}

// runExpiry deletes messages as they expire until ctx ends (Run owns it).
func (m *Messenger) runExpiry(ctx context.Context) {
	for {
		next, err := m.expireDue(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("expiring messages", "err", err)
		}
		wait := expiryRecheck
		if next > 0 {
			wait = min(wait, time.Duration(next-m.nowMS())*time.Millisecond)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.expiryKick:
		case <-t.C:
		}
		t.Stop()
	}
}

// expireDue deletes every message whose expiry has come and returns the next expiry
// (Unix ms; 0 when none is set).
func (m *Messenger) expireDue(ctx context.Context) (next int64, err error) {
	for {
		next = 0
		more := false
		err = m.st.Update(ctx, func(tx *store.Tx) error {
			now := m.nowMS()
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
				if len(due) == expiryBatch {
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
					if err := m.expireMessage(tx, id); err != nil {
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

// expireMessage deletes message id at its expiry: its content (body, edits, reactions,
// attachments and their media), its history and client-id index entries, and reports it
// with a message_update whose deleted is true (which also empties its search entry).
func (m *Messenger) expireMessage(tx *store.Tx, id string) error {
	r, err := history.LoadItem(tx, id)
	if errors.Is(err, api.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range r.M.Attachments {
		for _, mid := range []string{a.MediaID, deref(a.ThumbnailMediaID)} {
			if mid == "" {
				continue
			}
			if err := media.Unref(tx, mid, id); err != nil {
				return fmt.Errorf("messenger: media of an expired message: %w", err)
			}
		}
	}
	if err := tx.Delete(history.KeyOrder(r.M.ConversationID, r.M.Order)); err != nil {
		return err
	}
	if r.M.ClientMsgID != "" {
		if err := tx.Delete(history.KeyClient(r.M.ConversationID, r.M.ClientMsgID)); err != nil {
			return err
		}
	}
	wipe(r)
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
		return err
	}
	return m.fixLast(tx, r.M.ConversationID, r.M.ID)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
