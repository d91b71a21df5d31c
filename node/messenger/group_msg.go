package messenger

import (
	"errors"
	"slices"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// groupSeal gives content our next group sequence number, encrypts it once with our
// sender key and saves the advanced chain and the envelope (for resends) in tx.
func (m *Messenger) groupSeal(tx *store.Tx, gid string, content *wire.Content) ([]byte, *groupMeta, error) {
	g, err := loadGroupMeta(tx, gid)
	if err != nil {
		return nil, nil, err
	}
	if !g.Me {
		return nil, nil, api.Errorf(api.ErrForbidden, "you are no longer a member of this group")
	}
	ss, err := loadSender(tx, gid)
	if err != nil {
		return nil, nil, err
	}
	g.SendSeq++
	content.Seq, content.Group, content.Head = g.SendSeq, gid, g.Head
	if content.TS == "" {
		content.TS = m.clock.Now().String()
	}
	if content.ID == "" {
		content.ID = newID("x")
	}
	pt, err := content.Marshal()
	if err != nil {
		return nil, nil, err
	}
	skm, err := ss.Encrypt(pt)
	if errors.Is(err, senderkey.ErrChainExhausted) {
		return nil, nil, api.Errorf(api.ErrConflict, "the group key is exhausted; it rotates on the next membership change")
	}
	if err != nil {
		return nil, nil, err
	}
	env := wire.AppendEnvelope(nil, skm)
	if err := saveSender(tx, gid, ss); err != nil {
		return nil, nil, err
	}
	if err := putJSON(tx, kGroupMeta(gid), g); err != nil {
		return nil, nil, err
	}
	if err := tx.Set(kGroupSent(gid, g.SendSeq), env); err != nil {
		return nil, nil, err
	}
	if g.SendSeq > sentHistory {
		if err := tx.Delete(kGroupSent(gid, g.SendSeq-sentHistory)); err != nil {
			return nil, nil, err
		}
	}
	return env, g, tx.Set(kClock, []byte(content.TS))
}

// sendGroupControl sends an edit, delete or reaction to the group.
func (m *Messenger) sendGroupControl(tx *store.Tx, gid string, content *wire.Content) error {
	env, _, err := m.groupSeal(tx, gid, content)
	if err != nil {
		return err
	}
	tx.OnCommit(func() { m.gs.publish(gid, "", env) })
	return nil
}

// sendGroupTx stores a message to a group, encrypts it once with our sender key (the
// advanced chain saved in the same transaction) and publishes it once committed.
func (m *Messenger) sendGroupTx(tx *store.Tx, conv *convRec, req api.SendRequest, replyTo *string) (api.Message, error) {
	gid := conv.ID
	ts := m.clock.Now()
	id := newID("m")
	content := &wire.Content{Kind: wire.KindText, ID: id, TS: ts.String(), Body: req.Body}
	if replyTo != nil {
		content.ReplyTo = *replyTo
	}
	env, g, err := m.groupSeal(tx, gid, content)
	if err != nil {
		return api.Message{}, err
	}
	msg := api.Message{
		ID: id, ConversationID: gid, ClientMsgID: req.ClientMsgID, SenderID: m.uid,
		Body: req.Body, ReplyTo: replyTo, Attachments: []api.Attachment{},
		SentAt: ts.Wall, ReceivedAt: ts.Wall, Order: hlc.OrderKey(ts, m.uid+"-"+id),
		Status: api.StatusPending, Receipts: api.Receipts{Total: g.Members - 1}, Reactions: map[string][]string{},
	}
	if err := m.putMsg(tx, &msgRec{M: msg}, true); err != nil {
		return api.Message{}, err
	}
	if err := tx.Set(kClient(gid, req.ClientMsgID), []byte(id)); err != nil {
		return api.Message{}, err
	}
	conv.LastMsgID, conv.UpdatedAt = id, ts.Wall
	if err := putJSON(tx, kConv(conv.ID), conv); err != nil {
		return api.Message{}, err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return api.Message{}, err
	}
	if err := m.emitConv(tx, conv.ID); err != nil {
		return api.Message{}, err
	}
	tx.OnCommit(func() { m.gs.publish(gid, id, env) })
	return msg, nil
}

// rxOutcome is what became of one group envelope.
type rxOutcome int

const (
	rxStored    rxOutcome = iota // new message stored
	rxDuplicate                  // seen before (or our own)
	rxUnknown                    // no key for its chain (yet)
	rxUnlisted                   // its chain is not in the in-memory index (yet)
	rxRefused                    // not valid for this group
)

// groupRx receives group envelopes within one transaction.
type groupRx struct {
	m        *Messenger
	tx       *store.Tx
	cc       txContacts
	receipts map[string]map[string][]string // group → sender → message ids delivered
	convs    []string
}

// envelope decrypts and stores one group message.
func (b *groupRx) envelope(gid string, env []byte) (rxOutcome, error) {
	m, tx := b.m, b.tx
	skm, err := wire.ParseEnvelope(env)
	if err != nil {
		return rxRefused, nil
	}
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		return rxRefused, nil
	}
	owner, st := m.gs.owner(gid, sm)
	switch {
	case st == ownerNone:
		return rxUnlisted, nil
	case st != ownerFound:
		return rxRefused, nil
	case owner.uid == m.uid:
		return rxDuplicate, nil
	}
	g, err := loadGroupMeta(tx, gid)
	if err != nil || !g.Me {
		return rxRefused, nil
	}
	raw, err := tx.Get(kGroupRecv(gid, owner.uid))
	if errors.Is(err, store.ErrNotFound) {
		return rxUnknown, nil
	}
	if err != nil {
		return 0, err
	}
	rs, err := senderkey.UnmarshalReceiver(raw)
	if err != nil {
		return 0, err
	}
	pt, err := rs.Decrypt(skm)
	if errors.Is(err, senderkey.ErrDuplicate) {
		return rxDuplicate, nil
	}
	if err != nil {
		m.log.Info("group message refused", "group", gid, "from", owner.uid, "err", err)
		return rxRefused, nil
	}
	ct, err := wire.ParseContent(pt)
	if err != nil || ct.Group != gid {
		return rxRefused, nil
	}
	switch ct.Kind {
	case wire.KindText, wire.KindEdit, wire.KindDelete, wire.KindReaction:
	default:
		return rxRefused, nil
	}
	if raw, err = rs.MarshalBinary(); err != nil {
		return 0, err
	}
	if err := tx.Set(kGroupRecv(gid, owner.uid), raw); err != nil {
		return 0, err
	}
	if err := b.sequence(gid, owner.uid, ct.Seq); err != nil {
		return 0, err
	}
	ts, err := hlc.Parse(ct.TS)
	if err != nil {
		return rxRefused, nil
	}
	_, _ = m.clock.Observe(ts)
	if ct.Head != g.Head && m.gs.syncDue(gid, owner.uid) {
		if err := m.enqueueTo(tx, b.cc, owner.uid, &wire.Content{Kind: wire.KindGroupSync, Group: gid, Head: g.Head}); err != nil {
			return 0, err
		}
	}
	if ct.Kind != wire.KindText {
		return rxStored, b.control(gid, owner.uid, ct, ts)
	}
	if b.receipts == nil {
		b.receipts = map[string]map[string][]string{}
	}
	if b.receipts[gid] == nil {
		b.receipts[gid] = map[string][]string{}
	}
	b.receipts[gid][owner.uid] = append(b.receipts[gid][owner.uid], ct.ID)
	if _, err := tx.Get(kMsg(ct.ID)); err == nil {
		return rxDuplicate, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	conv, err := loadConv(tx, gid)
	if err != nil {
		return 0, err
	}
	var replyTo *string
	if ct.ReplyTo != "" {
		r := ct.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: ct.ID, ConversationID: gid, SenderID: owner.uid, Body: ct.Body, ReplyTo: replyTo,
		Attachments: []api.Attachment{}, SentAt: ts.Wall, ReceivedAt: m.nowMS(),
		Order: hlc.OrderKey(ts, owner.uid+"-"+ct.ID),
		// An incoming message's receipts describe this node, as for a direct message.
		Status: api.StatusDelivered, Receipts: api.Receipts{Delivered: 1, Total: 1}, Reactions: map[string][]string{},
	}
	if err := m.putMsg(tx, &msgRec{M: msg, Incoming: true}, true); err != nil {
		return 0, err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return 0, err
	}
	last := ""
	if conv.LastMsgID != "" {
		if r, err := loadMsg(tx, conv.LastMsgID); err == nil {
			last = r.M.Order
		}
	}
	if msg.Order > last {
		conv.LastMsgID = msg.ID
	}
	conv.UpdatedAt = max(conv.UpdatedAt, msg.ReceivedAt)
	if msg.Order > conv.ReadUpTo {
		conv.Unread++
	}
	if err := putJSON(tx, kConv(gid), conv); err != nil {
		return 0, err
	}
	if !slices.Contains(b.convs, gid) {
		b.convs = append(b.convs, gid)
	}
	return rxStored, nil
}

// control applies a member's edit, delete or reaction to a message of the group.
func (b *groupRx) control(gid, uid string, ct *wire.Content, ts hlc.Timestamp) error {
	m, tx := b.m, b.tx
	r, err := loadMsg(tx, ct.Target)
	if errors.Is(err, api.ErrNotFound) {
		return nil
	}
	if err != nil || r.M.ConversationID != gid || r.M.Deleted {
		return err
	}
	switch ct.Kind {
	case wire.KindEdit:
		if r.M.SenderID != uid || ct.TS <= r.EditTS {
			return nil
		}
		r.M.Body, r.EditTS = ct.Body, ct.TS
		at := ts.Wall
		r.M.EditedAt = &at
	case wire.KindDelete:
		if r.M.SenderID != uid {
			return nil
		}
		return m.markDeleted(tx, r)
	case wire.KindReaction:
		if !applyReaction(r, uid, ct.Emoji, !ct.Remove, ct.TS) {
			return nil
		}
	}
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindMessageUpdate, r.M)
	return err
}

// sequence tracks a member's group sequence numbers and asks them for what is missing.
func (b *groupRx) sequence(gid, uid string, seq uint64) error {
	var rx memberRx
	if _, err := getJSON(b.tx, kGroupRx(gid, uid), &rx); err != nil {
		return err
	}
	if seq <= rx.RecvSeq || slices.Contains(rx.Ahead, seq) {
		return nil
	}
	if seq == rx.RecvSeq+1 {
		rx.RecvSeq++
		slices.Sort(rx.Ahead)
		for len(rx.Ahead) > 0 && rx.Ahead[0] == rx.RecvSeq+1 {
			rx.RecvSeq++
			rx.Ahead = rx.Ahead[1:]
		}
	} else {
		from := rx.RecvSeq + 1
		if len(rx.Ahead) > 0 {
			from = max(from, slices.Max(rx.Ahead)+1)
		}
		rx.Ahead = append(rx.Ahead, seq)
		if len(rx.Ahead) > maxAhead {
			slices.Sort(rx.Ahead)
			rx.RecvSeq, rx.Ahead = rx.Ahead[0], rx.Ahead[1:]
		}
		if from < seq {
			to := min(seq-1, from+wire.MaxReceiptID)
			if err := b.m.enqueueTo(b.tx, b.cc, uid, &wire.Content{Kind: wire.KindGroupResend, Group: gid, From: from, To: to}); err != nil {
				return err
			}
		}
	}
	return putJSON(b.tx, kGroupRx(gid, uid), &rx)
}

// finish sends the delivery receipts of the batch and reports the conversations.
func (b *groupRx) finish() error {
	for _, gid := range sortedKeysOf(b.receipts) {
		for _, uid := range sortedKeysOf(b.receipts[gid]) {
			for chunk := range slices.Chunk(b.receipts[gid][uid], wire.MaxReceiptID) {
				if err := b.m.enqueueTo(b.tx, b.cc, uid, &wire.Content{Kind: wire.KindGroupReceipt, Group: gid, Status: wire.ReceiptDelivered, IDs: chunk}); err != nil {
					return err
				}
			}
		}
	}
	for _, gid := range b.convs {
		if err := b.m.emitConv(b.tx, gid); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeysOf[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// applyGroupReceipt counts a member's receipts for our messages and derives their status:
// sent until every member has it, then delivered, then read when every member read it.
func (m *Messenger) applyGroupReceipt(tx *store.Tx, g *groupRec, uid string, ct *wire.Content) error {
	level := 1
	if ct.Status == wire.ReceiptRead {
		level = 2
	}
	for _, id := range ct.IDs {
		r, err := loadMsg(tx, id)
		if errors.Is(err, api.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if r.M.SenderID != m.uid || r.M.ConversationID != g.ID {
			continue
		}
		old, err := receiptLevel(tx, id, uid)
		if err != nil {
			return err
		}
		if old >= level {
			continue
		}
		if err := tx.Set(kGroupReceipt(id, uid), []byte{byte(level)}); err != nil {
			return err
		}
		if old == 0 {
			r.M.Receipts.Delivered++
		}
		if level == 2 {
			r.M.Receipts.Read++
		}
		d, rd, total := r.M.Receipts.Delivered, r.M.Receipts.Read, r.M.Receipts.Total
		switch {
		case r.M.Status == api.StatusFailed:
		case rd >= total:
			r.M.Status = api.StatusRead
		case d >= total:
			r.M.Status = api.StatusDelivered
		case api.StatusRank(r.M.Status) < api.StatusRank(api.StatusSent):
			r.M.Status = api.StatusSent
		}
		if err := m.putMsg(tx, r, false); err != nil {
			return err
		}
		if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
			return err
		}
	}
	return nil
}

// groupReadReceipts tells each sender which of their group messages the user read.
func (m *Messenger) groupReadReceipts(tx *store.Tx, gid string, newly []*msgRec) error {
	by := map[string][]string{}
	for _, r := range newly {
		by[r.M.SenderID] = append(by[r.M.SenderID], r.M.ID)
	}
	cc := txContacts{}
	for _, uid := range sortedKeysOf(by) {
		for chunk := range slices.Chunk(by[uid], wire.MaxReceiptID) {
			if err := m.enqueueTo(tx, cc, uid, &wire.Content{Kind: wire.KindGroupReceipt, Group: gid, Status: wire.ReceiptRead, IDs: chunk}); err != nil {
				return err
			}
		}
	}
	return nil
}

// apiGroupConv is a group conversation for the API.
func (m *Messenger) apiGroupConv(tx *store.Tx, cv *convRec) (api.Conversation, error) {
	g, err := loadGroup(tx, cv.ID)
	if err != nil {
		return api.Conversation{}, err
	}
	out := api.Conversation{ID: cv.ID, Type: api.ConversationGroup, Name: g.Name, UnreadCount: cv.Unread, UpdatedAt: cv.UpdatedAt, Members: []api.Member{}}
	if g.Me {
		for _, mb := range g.Members {
			name := mb.Name
			if mb.UserID == m.uid {
				name = m.cfg.Profile()
			} else if cid, _ := getString(tx, kContactByUser(mb.UserID)); cid != "" {
				if c, err := loadContact(tx, cid); err == nil && c.NameSet {
					name = c.Name
				}
			}
			out.Members = append(out.Members, api.Member{UserID: mb.UserID, Name: name, Role: mb.Role})
		}
	}
	if cv.LastMsgID != "" {
		if r, err := loadMsg(tx, cv.LastMsgID); err == nil {
			out.LastMessage = &r.M
		}
	}
	return m.withMute(tx, out)
}

// sendGroup is Send for a group conversation (send.go).
func (m *Messenger) sendGroup(tx *store.Tx, conv *convRec, req api.SendRequest) (api.Message, error) {
	var replyTo *string
	if req.ReplyTo != nil && *req.ReplyTo != "" {
		r, err := loadMsg(tx, *req.ReplyTo)
		if err != nil || r.M.ConversationID != conv.ID {
			return api.Message{}, api.Errorf(api.ErrBadRequest, "reply_to is not a message of this conversation")
		}
		replyTo = req.ReplyTo
	}
	return m.sendGroupTx(tx, conv, req, replyTo)
}

// groupOnly reports whether contact cid is a group-only contact.
func groupOnly(tx *store.Tx, cid string) bool {
	c, err := loadContact(tx, cid)
	return err == nil && c.GroupOnly
}

// receiptLevel is what member uid acknowledged of our message id: 0 nothing, 1 delivered,
// 2 read. One key per member keeps an acknowledgement O(1) whatever the group's size.
func receiptLevel(tx *store.Tx, id, uid string) (int, error) {
	b, err := tx.Get(kGroupReceipt(id, uid))
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(b) != 1) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}
