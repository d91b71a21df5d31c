package gossip

import (
	"crypto/sha256"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/wire"
)

// GossipSub tuning. Groups are small meshes of people who all know each other, so:
//   - no signatures, no author, no seqno (StrictNoSign via WithNoAuthor): a signed
//     message would show every subscriber the publisher's peer id; the Sender Keys
//     signature already authenticates the sender to members, and only to members;
//   - message ids are a hash of the envelope (ciphertext), which is unique per message;
//   - mesh degree 8 (6..12): a 500-member group is ~3 hops deep;
//   - flood publishing off: the author sends its copy to its mesh peers only and the mesh
//     forwards it. With libp2p's default (on) the author writes one copy to every member
//     it is connected to, which in a group of 1,000 is a burst of hundreds of copies that
//     most members then drop as duplicates: the tail of a large group's latency
//     (BENCHMARKS.md, "Groups of 1,000"). A member not in anyone's mesh yet still gets
//     the message from the gossip (IHAVE/IWANT) of the next heartbeats, and a member who
//     has not acknowledged it by FallbackAfter from the pairwise fallback;
//   - peer exchange off: members already know each other's addresses from group state,
//     and PX would hand peer ids to whoever we prune;
//   - deep per-peer queues (4096; a burst with the default 32 dropped a third of the
//     deliveries on this machine) and validators that drop malformed, unknown-chain and
//     badly signed envelopes before they are forwarded, with an invalid-message penalty
//     in the peer score. IP colocation scoring is off: members behind one NAT (or on
//     loopback) are normal for a messenger.
const (
	D     = 8
	Dlo   = 6
	Dhi   = 12
	Queue = 4096
)

// EnvelopeID is the GossipSub message id: SHA-256 of the envelope, truncated.
func EnvelopeID(m *pb.Message) string {
	sum := sha256.Sum256(m.Data)
	return string(sum[:20])
}

// RouterOptions are a petrel node's GossipSub router options (parameters, scoring, queues,
// message ids); load commands and benchmarks build their routers from them so they
// measure what a node runs.
func RouterOptions(extra ...pubsub.Option) []pubsub.Option {
	sp, th := scoreParams()
	return append([]pubsub.Option{
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(EnvelopeID),
		pubsub.WithGossipSubParams(gossipParams()),
		pubsub.WithPeerScore(sp, th),
		pubsub.WithPeerExchange(false),
		pubsub.WithFloodPublish(false),
		pubsub.WithPeerOutboundQueueSize(Queue),
		pubsub.WithValidateQueueSize(Queue),
		pubsub.WithMaxMessageSize(wire.MaxEnvelope + (16 << 10)),
	}, extra...)
}

// TopicBuffer is the subscription buffer a node gives each group topic.
const TopicBuffer = Queue

func gossipParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D, p.Dlo, p.Dhi, p.Dscore, p.Dout, p.Dlazy = D, Dlo, Dhi, 4, 2, D
	return p
}

func scoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	return &pubsub.PeerScoreParams{
			SkipAtomicValidation:   true,
			AppSpecificScore:       func(peer.ID) float64 { return 0 },
			BehaviourPenaltyWeight: -1, BehaviourPenaltyDecay: 0.9, BehaviourPenaltyThreshold: 5,
			DecayInterval: time.Second, DecayToZero: 0.01,
			Topics: map[string]*pubsub.TopicScoreParams{},
		}, &pubsub.PeerScoreThresholds{
			SkipAtomicValidation: true,
			GossipThreshold:      -100, PublishThreshold: -500, GraylistThreshold: -1000,
		}
}

// TopicScore is the score a node gives each group topic.
func TopicScore() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		// Unused (weight 0), but the router divides by it when scoring mesh time.
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  0.5,
	}
}
