package groups

import (
	"errors"
	"github.com/petrel-chat/petrel/node/receipts"
	"slices"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/chains"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Seal gives content our next group sequence number, encrypts it once with our sender key
// and saves the advanced chain and the envelope (for resends) in tx. It returns the
// envelope (for Publish, once tx commits) and the group's member count.
func (s *Service) Seal(tx *store.Tx, gid string, content *wire.Content) ([]byte, int, error) {
	env, g, err := s.seal(tx, gid, content)
	if err != nil {
		return nil, 0, err
	}
	return env, g.Members, nil
}

func (s *Service) seal(tx *store.Tx, gid string, content *wire.Content) ([]byte, *grouplog.Meta, error) {
	g, err := grouplog.LoadMeta(tx, gid)
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
		content.TS = s.cfg.Clock.Now().String()
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
	if err := grouplog.SaveMeta(tx, gid, g); err != nil {
		return nil, nil, err
	}
	kept := env
	if s.hist.SealSent != nil {
		if kept, err = s.hist.SealSent(tx, kGroupSent(gid, g.SendSeq), content, env); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.Set(kGroupSent(gid, g.SendSeq), kept); err != nil {
		return nil, nil, err
	}
	if g.SendSeq > sentHistory {
		if err := tx.Delete(kGroupSent(gid, g.SendSeq-sentHistory)); err != nil {
			return nil, nil, err
		}
	}
	return env, g, s.cfg.SaveClock(tx, content.TS)
}

// SendControl sends an edit, delete or reaction to group gid once tx commits.
func (s *Service) SendControl(tx *store.Tx, gid string, content *wire.Content) error {
	env, _, err := s.seal(tx, gid, content)
	if err != nil {
		return err
	}
	tx.OnCommit(func() { s.Publish(gid, "", env) })
	return nil
}

// Outcome is what became of one group envelope.
type Outcome int

const (
	Stored    Outcome = iota // new message stored
	Duplicate                // seen before (or our own)
	Unknown                  // no key for its chain (yet): Hold it
	Unlisted                 // its chain is not in the in-memory index (yet): Hold it, rechecked
	Refused                  // not valid for this group
)

// Rx receives group envelopes within one transaction: NewRx, Envelope for each, Finish.
type Rx struct {
	s        *Service
	tx       *store.Tx
	pw       Pairwise
	receipts map[string]map[string][]string // group → sender → message ids delivered
	convs    []string
}

// NewRx starts receiving group envelopes in tx; pw is tx's pairwise side.
func (s *Service) NewRx(tx *store.Tx, pw Pairwise) *Rx { return &Rx{s: s, tx: tx, pw: pw} }

// Envelope decrypts and stores one group message of group gid.
func (b *Rx) Envelope(gid string, env []byte) (Outcome, error) {
	s, tx := b.s, b.tx
	skm, err := wire.ParseEnvelope(env)
	if err != nil {
		return Refused, nil
	}
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		return Refused, nil
	}
	owner, st := s.chains.Owner(gid, sm)
	switch {
	case st == chains.None:
		return Unlisted, nil
	case st != chains.Found:
		return Refused, nil
	case owner.Device == s.dev:
		return Duplicate, nil
	}
	// The chain names the member and their device (its id is bound to both, acceptKey);
	// a chain of another of our own devices sent what shows here as ours.
	uid, dev, mine := owner.User, owner.Device, owner.User == s.uid
	g, err := grouplog.LoadMeta(tx, gid)
	if err != nil || !g.Me {
		return Refused, nil
	}
	raw, err := tx.Get(kGroupRecv(gid, dev))
	if errors.Is(err, store.ErrNotFound) {
		return Unknown, nil
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
		return Duplicate, nil
	}
	if err != nil {
		s.log.Info("group message refused", "group", gid, "from", uid, "device", dev, "err", err)
		return Refused, nil
	}
	ct, err := wire.ParseContent(pt)
	if err != nil || ct.Group != gid {
		return Refused, nil
	}
	switch ct.Kind {
	case wire.KindText, wire.KindEdit, wire.KindDelete, wire.KindReaction, wire.KindDisappear:
	default:
		return Refused, nil
	}
	if raw, err = rs.MarshalBinary(); err != nil {
		return 0, err
	}
	if err := tx.Set(kGroupRecv(gid, dev), raw); err != nil {
		return 0, err
	}
	if err := b.sequence(gid, uid, dev, ct.Seq); err != nil {
		return 0, err
	}
	ts, err := hlc.Parse(ct.TS)
	if err != nil {
		return Refused, nil
	}
	_, _ = s.cfg.Clock.Observe(ts)
	if ct.Head != g.Head && s.syncDue(gid, dev) {
		if err := b.pw.SendTo(uid, dev, &wire.Content{Kind: wire.KindGroupSync, Group: gid, Head: g.Head}); err != nil {
			return 0, err
		}
	}
	if ct.Kind != wire.KindText {
		return Stored, b.control(gid, uid, ct, ts)
	}
	if b.receipts == nil {
		b.receipts = map[string]map[string][]string{}
	}
	if b.receipts[gid] == nil {
		b.receipts[gid] = map[string][]string{}
	}
	if !mine {
		b.receipts[gid][uid] = append(b.receipts[gid][uid], ct.ID)
	}
	var replyTo *string
	if ct.ReplyTo != "" {
		r := ct.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: ct.ID, ConversationID: gid, SenderID: uid, Body: ct.Body, ReplyTo: replyTo,
		Attachments: []api.Attachment{}, SentAt: ts.Wall, ReceivedAt: s.nowMS(),
		Order: hlc.OrderKey(ts, uid+"-"+ct.ID),
		// An incoming message's receipts describe this node, as for a direct message.
		Status: api.StatusDelivered, Receipts: api.Receipts{Delivered: 1, Total: 1}, Reactions: map[string][]string{},
		DisappearAfterS: int64(ct.Expire), // its timer starts when read (docs/API.md §9)
	}
	if mine { // sent by another of our devices: ours, counted by the members' receipts
		msg.Status, msg.Receipts = api.StatusSent, api.Receipts{Total: g.Members - 1}
	}
	if len(ct.Attachments) > 0 && s.hist.Attachments != nil {
		msg.Attachments = s.hist.Attachments(tx, gid, ct.ID, uid, ct.Attachments)
	}
	if stored, err := s.hist.SaveReceived(tx, msg); err != nil || !stored {
		return Duplicate, err
	}
	if !slices.Contains(b.convs, gid) {
		b.convs = append(b.convs, gid)
	}
	return Stored, nil
}

// control applies a member's edit, delete or reaction to a message of the group.
func (b *Rx) control(gid, uid string, ct *wire.Content, ts hlc.Timestamp) error {
	return b.s.hist.ApplyControl(b.tx, gid, uid, ct, ts)
}

// sequence tracks the group sequence numbers of member uid's device dev and asks that
// device for what is missing.
func (b *Rx) sequence(gid, uid, dev string, seq uint64) error {
	var rx memberRx
	if _, err := getJSON(b.tx, kGroupRx(gid, dev), &rx); err != nil {
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
			if err := b.pw.SendTo(uid, dev, &wire.Content{Kind: wire.KindGroupResend, Group: gid, From: from, To: to}); err != nil {
				return err
			}
		}
	}
	return putJSON(b.tx, kGroupRx(gid, dev), &rx)
}

// Finish sends the delivery receipts of the batch and reports the conversations.
func (b *Rx) Finish() error {
	for _, gid := range sortedKeysOf(b.receipts) {
		for _, uid := range sortedKeysOf(b.receipts[gid]) {
			for chunk := range slices.Chunk(b.receipts[gid][uid], wire.MaxReceiptID) {
				if err := b.pw.Send(uid, &wire.Content{Kind: wire.KindGroupReceipt, Group: gid, Status: wire.ReceiptDelivered, IDs: chunk}); err != nil {
					return err
				}
			}
		}
	}
	for _, gid := range b.convs {
		if err := b.s.hist.EmitConversation(b.tx, gid); err != nil {
			return err
		}
	}
	return nil
}

// applyGroupReceipt counts a member's receipts for our messages and derives their status:
// sent until every member has it, then delivered, then read when every member read it.
func (s *Service) applyGroupReceipt(tx *store.Tx, g *Group, uid string, ct *wire.Content) error {
	level := 1
	if ct.Status == wire.ReceiptRead {
		level = 2
	}
	for _, id := range ct.IDs {
		err := s.hist.UpdateMessage(tx, id, func(m *api.Message) (bool, error) {
			if m.SenderID != s.uid || m.ConversationID != g.ID {
				return false, nil
			}
			prev, changed, err := receipts.Note(tx, id, uid, level, s.nowMS())
			if err != nil || !changed {
				return false, err
			}
			if old := prev.Level; old == 0 {
				m.Receipts.Delivered++
			}
			if level == 2 {
				m.Receipts.Read++
			}
			d, rd, total := m.Receipts.Delivered, m.Receipts.Read, m.Receipts.Total
			switch {
			case m.Status == api.StatusFailed:
			case rd >= total:
				m.Status = api.StatusRead
			case d >= total:
				m.Status = api.StatusDelivered
			case api.StatusRank(m.Status) < api.StatusRank(api.StatusSent):
				m.Status = api.StatusSent
			}
			return true, nil
		})
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return err
		}
	}
	return nil
}

// ReadReceipts tells each sender which of their group messages in gid the user read
// (bySender: sender's user id → message ids), in tx.
func (s *Service) ReadReceipts(tx *store.Tx, gid string, bySender map[string][]string) error {
	pw := s.cfg.Pairwise(tx)
	for _, uid := range sortedKeysOf(bySender) {
		if uid == s.uid {
			continue // ours, from another of our devices
		}
		for chunk := range slices.Chunk(bySender[uid], wire.MaxReceiptID) {
			if err := pw.Send(uid, &wire.Content{Kind: wire.KindGroupReceipt, Group: gid, Status: wire.ReceiptRead, IDs: chunk}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReceiptLevel is what member uid acknowledged of our group message id: 0 nothing, 1
// delivered, 2 read.
func ReceiptLevel(tx *store.Tx, id, uid string) (int, error) { return receiptLevel(tx, id, uid) }

// Receipts calls f for every member's receipt kept for our group message id (members who
// have left since included), in user id order.
func Receipts(tx *store.Tx, id string, f func(uid string, level int)) error {
	prefix := receipts.Key(id, "")
	return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
		if r := receipts.Decode(v); r.Level > 0 {
			f(string(k[len(prefix):]), r.Level)
		}
		return true, nil
	})
}

// receiptLevel is what member uid acknowledged of our message id: 0 nothing, 1 delivered,
// 2 read. One key per member keeps an acknowledgement O(1) whatever the group's size.
func receiptLevel(tx *store.Tx, id, uid string) (int, error) {
	r, err := receipts.Of(tx, id, uid)
	return r.Level, err
}
