package groups

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/chains"
	"github.com/petrel-chat/petrel/node/groups/gossip"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/groups/groupmail"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

const (
	maxPendingGroup  = 1024 // envelopes held per group while their chain's key is on its way
	syncEvery        = 5 * time.Second
	fanoutRecheck    = time.Second      // how soon to look again at what waits for members (fanout.go)
	fanoutRecheckMax = 30 * time.Second // and at most how late
)

// RouterOptions are a petrel node's GossipSub router options (node/groups/gossip).
func RouterOptions(extra ...pubsub.Option) []pubsub.Option { return gossip.RouterOptions(extra...) }

// TopicScore is the score a node gives each group topic.
func TopicScore() *pubsub.TopicScoreParams { return gossip.TopicScore() }

// TopicBuffer is the subscription buffer a node gives each group topic.
const TopicBuffer = gossip.Queue

type joinedTopic struct {
	name   string
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
}

type rxItem struct {
	gid string
	env []byte
}

type pubItem struct {
	gid, msgID string
	env        []byte
}

type fallbackItem struct {
	gid, msgID string
	env        []byte
	due        time.Time
}

// fanKick is called once a change that owes members something is committed.
func (s *Service) fanKick() {
	s.mu.Lock()
	s.fanDue, s.fanNext, s.fanWait = true, time.Time{}, 0
	s.fanGen++
	s.mu.Unlock()
	s.kick()
}

// fanout serves what members are owed, a transaction at a time, while there is some to
// send now; what waits for members to take what they were sent is looked at again after
// fanoutRecheck, backing off to fanoutRecheckMax.
func (s *Service) fanout(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		due, gen := s.fanDue && !time.Now().Before(s.fanNext), s.fanGen
		s.mu.Unlock()
		if !due {
			return
		}
		more, waiting, err := s.drainFanout(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("group fan-out", "err", err)
			}
			more, waiting = false, true
		}
		if more {
			continue
		}
		s.mu.Lock()
		switch {
		case waiting:
			// Members who have not taken what they were sent may be offline for long:
			// look again after 1 s, then less and less often, up to every 30 s.
			s.fanWait = min(max(2*s.fanWait, fanoutRecheck), fanoutRecheckMax)
			s.fanNext = time.Now().Add(s.fanWait)
		case gen == s.fanGen:
			s.fanDue = false
		}
		s.mu.Unlock()
	}
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start creates the router, rebuilds the index and joins our groups' topics. The loop
// runs until ctx ends; wait returns when it and every topic reader have stopped.
func (s *Service) Start(ctx context.Context, h host.Host) error {
	ps, err := pubsub.NewGossipSub(ctx, h, RouterOptions()...)
	if err != nil {
		return fmt.Errorf("groups: gossipsub: %w", err)
	}
	var groups []*Group
	err = s.st.View(func(tx *store.Tx) error {
		if err := tx.Iterate(store.IterOptions{Prefix: []byte("gr/")}, func(_, v []byte) (bool, error) {
			var g Group
			if err := json.Unmarshal(v, &g); err != nil {
				return false, err
			}
			groups = append(groups, &g)
			return true, nil
		}); err != nil {
			return err
		}
		for _, g := range groups {
			if !g.Me {
				continue
			}
			if ss, err := loadSender(tx, g.ID); err == nil {
				d, err := senderkey.ParseDistribution(ss.Distribution())
				if err == nil {
					s.chains.Load(ss.ID(), chains.Owner{Group: g.ID, User: s.uid, Device: s.dev, Pub: d.SigningKey(), Bound: d.BoundTo(wire.GroupKeyOwner(g.ID, s.dev))})
				}
			}
			err := tx.Iterate(store.IterOptions{Prefix: kGroupRxPrefix(g.ID)}, func(k, v []byte) (bool, error) {
				var rx memberRx
				if err := json.Unmarshal(v, &rx); err != nil {
					return false, err
				}
				dev := string(k[len(kGroupRxPrefix(g.ID)):])
				for _, d := range rx.Dists {
					if id, ok := chains.ParseID(d.ID); ok {
						s.chains.Load(id, chains.Owner{Group: g.ID, User: rx.user(dev), Device: dev, Pub: d.Pub, Bound: d.Bound})
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ctx, s.ps, s.self = ctx, ps, h.ID()
	s.groupCtl = append(groups, s.groupCtl...)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
	s.kick()
	return nil
}

// Wait returns once the loop Start began and every topic reader have stopped.
func (s *Service) Wait() { s.wg.Wait() }

// update is called once a group's new state is committed: join or leave its topic.
func (s *Service) update(g *Group) {
	s.mu.Lock()
	s.groupCtl = append(s.groupCtl, g)
	s.mu.Unlock()
	s.kick()
}

// setOwn makes id our chain in gid (rotateSender).
func (s *Service) setOwn(gid string, id senderkey.DistributionID, pub ed25519.PublicKey) {
	s.chains.SetOwn(gid, s.dev, id, chains.Owner{Group: gid, User: s.uid, Device: s.dev, Pub: pub, Bound: true})
}

// addDist indexes a member device's chain and queues what waited for a key in gid.
func (s *Service) addDist(gid, uid, dev string, d distInfo) {
	id, ok := chains.ParseID(d.ID)
	if !ok {
		return
	}
	s.chains.Add(id, chains.Owner{Group: gid, User: uid, Device: dev, Pub: d.Pub, Bound: d.Bound})
	s.mu.Lock()
	if p := s.pending[gid]; len(p) > 0 {
		delete(s.pending, gid)
		for _, env := range p {
			s.rxQ = append(s.rxQ, rxItem{gid, env})
		}
	}
	s.mu.Unlock()
	s.kick()
}

// dropDists forgets chains device dev held in gid (it left, or the chains were superseded).
func (s *Service) dropDists(gid, dev string, ds []distInfo) {
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	s.chains.Drop(gid, dev, ids)
}

// syncDue rate-limits state sync requests to one per group and member per syncEvery.
func (s *Service) syncDue(gid, uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := gid + "/" + uid
	now := time.Now()
	if now.Sub(s.syncAt[k]) < syncEvery {
		return false
	}
	s.syncAt[k] = now
	return true
}

// Publish publishes envelope env (Seal's) on group gid's topic; msgID names the message
// whose status it drives, "" for an edit, delete or reaction. Call it once the
// transaction that sealed env has committed.
func (s *Service) Publish(gid, msgID string, env []byte) {
	s.mu.Lock()
	s.pubQ = append(s.pubQ, pubItem{gid, msgID, env})
	s.mu.Unlock()
	s.kick()
}

// Hold keeps an envelope of an unknown chain until its key arrives. With recheck (the
// envelope was refused because its chain was missing from the index, not because its key
// was missing from the store), the chain may have been indexed since (the store runs a
// group's functions before the previous group's OnCommit callbacks, addDist among them):
// then the envelope is queued again at once.
func (s *Service) Hold(gid string, env []byte, recheck bool) {
	var id senderkey.DistributionID
	parsed := false
	if skm, err := wire.ParseEnvelope(env); recheck && err == nil {
		if sm, err := senderkey.ParseMessage(skm); err == nil {
			id, parsed = sm.ID(), true
		}
	}
	s.mu.Lock()
	known := parsed && s.chains.KnownIn(gid, id)
	switch {
	case known:
		s.rxQ = append(s.rxQ, rxItem{gid, env})
	case len(s.pending[gid]) < maxPendingGroup:
		s.pending[gid] = append(s.pending[gid], env)
	}
	s.mu.Unlock()
	if known {
		s.kick()
	}
}

// validator drops what must not be forwarded: malformed envelopes and envelopes of a
// known chain with a bad signature (Reject, which counts against the forwarding peer),
// and envelopes of chains we have no key for (Ignore: held until the key arrives, in
// case it is on its way; revoked chains are Rejected).
func (s *Service) validator(gid string) pubsub.ValidatorEx {
	return func(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		skm, err := wire.ParseEnvelope(msg.Data)
		if err != nil {
			return pubsub.ValidationReject
		}
		sm, err := senderkey.ParseMessage(skm)
		if err != nil {
			return pubsub.ValidationReject
		}
		switch _, st := s.chains.Owner(gid, sm); st {
		case chains.Revoked, chains.Forged:
			return pubsub.ValidationReject
		case chains.None:
			s.Hold(gid, msg.Data, false)
			return pubsub.ValidationIgnore
		}
		return pubsub.ValidationAccept
	}
}

// loop applies group state changes to topics, publishes, receives and runs the fallback.
func (s *Service) loop(ctx context.Context) {
	tick := time.NewTicker(max(s.opts.FallbackAfter/4, 50*time.Millisecond))
	defer tick.Stop()
	defer func() {
		s.mu.Lock()
		ts := s.topics
		s.topics = map[string]*joinedTopic{}
		s.mu.Unlock()
		for _, t := range ts {
			s.leave(t)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
			s.fallback(ctx)
			s.fanout(ctx)
			continue
		}
		s.mu.Lock()
		ctl, pubs, rx := s.groupCtl, s.pubQ, s.rxQ
		s.groupCtl, s.pubQ, s.rxQ = nil, nil, nil
		s.mu.Unlock()
		for _, g := range ctl {
			s.control(ctx, g)
		}
		for _, p := range pubs {
			s.doPublish(ctx, p)
		}
		for len(rx) > 0 {
			n := min(len(rx), window)
			s.receive(ctx, rx[:n])
			rx = rx[n:]
		}
		s.fanout(ctx)
	}
}

func (s *Service) control(ctx context.Context, g *Group) {
	s.mu.Lock()
	t := s.topics[g.ID]
	s.mu.Unlock()
	name := wire.GroupTopic(g.Secret)
	if g.Me && t == nil {
		if err := s.join(ctx, g.ID, name); err != nil {
			s.log.Warn("joining group topic", "group", g.ID, "err", err)
		}
	}
	if !g.Me && t != nil {
		s.mu.Lock()
		delete(s.topics, g.ID)
		delete(s.pending, g.ID)
		s.mu.Unlock()
		s.leave(t)
	}
}

func (s *Service) join(ctx context.Context, gid, name string) error {
	if err := s.ps.RegisterTopicValidator(name, s.validator(gid)); err != nil {
		return err
	}
	topic, err := s.ps.Join(name)
	if err != nil {
		_ = s.ps.UnregisterTopicValidator(name)
		return err
	}
	if err := topic.SetScoreParams(gossip.TopicScore()); err != nil {
		s.log.Info("topic score", "err", err)
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(gossip.Queue))
	if err != nil {
		topic.Close()
		_ = s.ps.UnregisterTopicValidator(name)
		return err
	}
	self := s.self
	rctx, cancel := context.WithCancel(ctx)
	t := &joinedTopic{name: name, topic: topic, sub: sub, cancel: cancel}
	s.mu.Lock()
	s.topics[gid] = t
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			msg, err := sub.Next(rctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == self {
				continue // our own publication
			}
			s.mu.Lock()
			s.rxQ = append(s.rxQ, rxItem{gid, msg.Data})
			s.mu.Unlock()
			s.kick()
		}
	}()
	return nil
}

func (s *Service) leave(t *joinedTopic) {
	t.cancel()
	t.sub.Cancel()
	_ = t.topic.Close()
	_ = s.ps.UnregisterTopicValidator(t.name)
}

func (s *Service) doPublish(ctx context.Context, p pubItem) {
	s.mu.Lock()
	t := s.topics[p.gid]
	s.mu.Unlock()
	if t != nil {
		if err := t.topic.Publish(ctx, p.env); err != nil {
			s.log.Info("group publish", "group", p.gid, "err", err)
		}
	}
	if p.msgID == "" {
		return // an edit, delete or reaction: gap detection covers it
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		return s.hist.UpdateMessage(tx, p.msgID, func(m *api.Message) (bool, error) {
			switch {
			case api.StatusRank(m.Status) >= api.StatusRank(api.StatusSent):
				return false, nil
			case m.Receipts.Total == 0:
				m.Status = api.StatusDelivered
			case m.Status == api.StatusFailed: // failed is final
				return false, nil
			default:
				m.Status = api.StatusSent
			}
			return true, nil
		})
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("group message status", "err", err)
	}
	s.mu.Lock()
	s.due = append(s.due, fallbackItem{p.gid, p.msgID, p.env, time.Now().Add(s.opts.FallbackAfter)})
	s.mu.Unlock()
}

// receive stores a batch of envelopes from the mesh in one transaction.
func (s *Service) receive(ctx context.Context, items []rxItem) {
	var unknown []rxItem
	var unlisted []bool
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		unknown, unlisted = unknown[:0], unlisted[:0]
		b := s.NewRx(tx, s.cfg.Pairwise(tx))
		for _, it := range items {
			out, err := b.Envelope(it.gid, it.env)
			if err != nil {
				return err
			}
			if out == Unknown || out == Unlisted {
				unknown = append(unknown, it)
				unlisted = append(unlisted, out == Unlisted)
			}
		}
		return b.Finish()
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("receiving group messages", "err", err)
		}
		return
	}
	for i, it := range unknown {
		s.Hold(it.gid, it.env, unlisted[i])
	}
}

// fallback hands messages that some members have not acknowledged in time to
// groupmail.Depositor.Deliver.
func (s *Service) fallback(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var ready []fallbackItem
	keep := s.due[:0]
	for _, d := range s.due {
		if now.After(d.due) {
			ready = append(ready, d)
		} else {
			keep = append(keep, d)
		}
	}
	s.due = keep
	s.mu.Unlock()
	if len(ready) == 0 {
		return
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		pw := s.cfg.Pairwise(tx)
		for _, d := range ready {
			g, err := grouplog.Load(tx, d.gid)
			if err != nil {
				if errors.Is(err, api.ErrNotFound) {
					continue
				}
				return err
			}
			if !g.Me {
				continue
			}
			var missing []string
			for _, mb := range g.Members {
				if mb.UserID == s.uid {
					continue
				}
				if l, err := receiptLevel(tx, d.msgID, mb.UserID); err != nil {
					return err
				} else if l == 0 {
					missing = append(missing, mb.UserID)
				}
			}
			var expires int64 // a disappearing message's mail expires with it (API §9)
			if err := s.hist.UpdateMessage(tx, d.msgID, func(m *api.Message) (bool, error) {
				expires = groupmail.Expiry(m)
				return false, nil
			}); err != nil && !errors.Is(err, api.ErrNotFound) {
				return err
			}
			if err := s.dep.DeliverUntil(tx, mailPairwise{pw}, d.gid, d.env, missing, expires); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("group fallback delivery", "err", err)
	}
}

// ChainOwner is the member whose Sender Keys chain sent a group message.
type ChainOwner struct {
	UserID string
	Device string // the user id of the sending device's key (UserID for their primary)
	Bound  bool   // the chain's id is bound to them (senderkey.NewSenderBound)
}

// Owner returns the member of group gid whose chain sent sm, found when a chain of that
// group under sm's distribution id verifies it.
func (s *Service) Owner(gid string, sm *senderkey.Message) (ChainOwner, bool) {
	o, st := s.chains.Owner(gid, sm)
	return ChainOwner{UserID: o.User, Device: o.Device, Bound: o.Bound}, st == chains.Found
}
