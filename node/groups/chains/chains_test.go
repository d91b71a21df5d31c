package chains_test

import (
	"testing"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups/chains"
	"github.com/petrel-chat/petrel/node/wire"
)

// chain is a bound sending chain of device dev in gid, its index entry and one message.
func chain(t *testing.T, gid, uid, dev string) (senderkey.DistributionID, chains.Owner, *senderkey.Message) {
	t.Helper()
	ss, err := senderkey.NewSenderBound(wire.GroupKeyOwner(gid, dev))
	if err != nil {
		t.Fatal(err)
	}
	d, err := senderkey.ParseDistribution(ss.Distribution())
	if err != nil {
		t.Fatal(err)
	}
	skm, err := ss.Encrypt([]byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		t.Fatal(err)
	}
	return ss.ID(), chains.Owner{Group: gid, User: uid, Device: dev, Pub: d.SigningKey(), Bound: true}, sm
}

// Two devices of one member each own their chain; a device's chain announced by another
// device (a claim without its signing key) attributes nothing to the claimant; dropping
// a revoked device's chains makes its messages Revoked while the other device's stay.
func TestIndexPerDevice(t *testing.T) {
	x := chains.New()
	idP, oP, smP := chain(t, "g", "alice", "alice")
	idL, oL, smL := chain(t, "g", "alice", "laptop")
	x.Add(idP, oP)
	x.Add(idL, oL)
	for _, c := range []struct {
		sm  *senderkey.Message
		dev string
	}{{smP, "alice"}, {smL, "laptop"}} {
		if o, st := x.Owner("g", c.sm); st != chains.Found || o.User != "alice" || o.Device != c.dev {
			t.Fatalf("message of %s: %+v %v", c.dev, o, st)
		}
	}
	if _, st := x.Owner("other", smL); st != chains.None {
		t.Fatalf("another group's lookup: %v", st)
	}
	// Mallory claims the laptop's id with a key of her own, unbound: the laptop's
	// message stays the laptop's (a bound chain is the only one under its id).
	_, oM, _ := chain(t, "g", "mallory", "mallory")
	oM.Bound = false
	x.Add(idL, oM)
	if o, st := x.Owner("g", smL); st != chains.Found || o.Device != "laptop" {
		t.Fatalf("after mallory's claim: %+v %v", o, st)
	}
	if o, ok := x.ClaimedByOther(idL, "g", "mallory"); !ok || o.Device != "laptop" {
		t.Fatalf("the laptop's id is not seen as another's: %+v %v", o, ok)
	}
	x.Drop("g", "laptop", []string{idL.String()})
	if _, st := x.Owner("g", smL); st != chains.Revoked {
		t.Fatalf("the revoked laptop's message: %v, want Revoked", st)
	}
	if o, st := x.Owner("g", smP); st != chains.Found || o.Device != "alice" {
		t.Fatalf("the primary's message after the laptop's revocation: %+v %v", o, st)
	}
	x.ForgetGroup("g")
	if _, st := x.Owner("g", smP); st != chains.Revoked {
		t.Fatalf("after leaving: %v", st)
	}
}
