package groups

import (
	"context"
	"crypto/ed25519"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups/gossip"
	"github.com/petrel-chat/petrel/node/wire"
)

// oneChainValidator is the envelope check for a topic with one known sender chain, signed
// by signer: what the fan-out benchmark and the router test run on every host in place of
// the node's validator (which looks the chain up in group state).
func oneChainValidator(signer ed25519.PublicKey) pubsub.ValidatorEx {
	return func(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		skm, err := wire.ParseEnvelope(msg.Data)
		if err != nil {
			return pubsub.ValidationReject
		}
		sm, err := senderkey.ParseMessage(skm)
		if err != nil || !sm.Verify(signer) {
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	}
}

// The router's tuning as the tests of this package name it (node/groups/gossip).
var (
	envelopeID = gossip.EnvelopeID
	topicScore = gossip.TopicScore
)

const (
	gossipDhi   = gossip.Dhi
	gossipQueue = gossip.Queue
)
