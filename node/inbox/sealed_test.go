package inbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/wire"
)

var mailbox = []byte("test mailbox")

// sealTo seals payload from sender for recipient's mailbox, as a contact's outbox does.
func sealTo(t testing.TB, from, to *identity.Identity, payload []byte) []byte {
	t.Helper()
	env, err := sealed.SealFrom(mailbox, to.Public(), from, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// sharedTo is a multi deposit's shared envelope of payload from sender, for recipient.
func sharedTo(t testing.TB, from, to *identity.Identity, payload []byte) []byte {
	t.Helper()
	body, err := sealed.SealBody(payload)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Destroy()
	h, err := body.HeaderFrom(mailbox, to.Public(), from)
	if err != nil {
		t.Fatal(err)
	}
	return sealed.JoinShared(h, body.Body())
}

func deliverFrame(n byte) []byte {
	return wire.AppendDeliver(nil, &wire.Deliver{ID: wire.ID{n}, Message: []byte{n, n, n}})
}

var groupMail = wire.AppendGroupMail(nil, "g0123abcd", wire.AppendEnvelope(nil, []byte{1, 1, 2, 3}))

// TestOpenKeepsOrderAndDropsWhatDoesNotOpen: what opens for the node comes out in the
// relay's order with the sender the envelope proves; an envelope for someone else, a
// forged one and a malformed payload are dropped, each logged, and take nothing else down.
func TestOpenKeepsOrderAndDropsWhatDoesNotOpen(t *testing.T) {
	t.Parallel()
	alice, bob, carol := newID(t), newID(t), newID(t)
	forged := sealTo(t, alice, bob, deliverFrame(9))
	forged[len(forged)-1] ^= 1
	envs := [][]byte{
		sealTo(t, alice, bob, deliverFrame(1)),
		[]byte("garbage"),
		sealTo(t, alice, carol, deliverFrame(2)), // not for bob
		sharedTo(t, carol, bob, groupMail),
		forged,
		sealTo(t, alice, bob, []byte{0x7f, 1, 2}), // not a Deliver
		sharedTo(t, carol, bob, deliverFrame(3)),  // a shared envelope carries group mail only
		sealTo(t, alice, bob, deliverFrame(4)),
	}
	log, buf := logBuffer()
	mail := Open(bob, envs, log)
	var got []string
	for _, m := range mail {
		switch {
		case m.Deliver != nil:
			got = append(got, fmt.Sprintf("deliver %d from %s", m.Deliver.ID[0], m.Sender))
		default:
			got = append(got, fmt.Sprintf("group %s from %s", m.GroupID, m.Sender))
		}
	}
	a, c := string(alice.UserID()), string(carol.UserID())
	want := []string{"deliver 1 from " + a, "group g0123abcd from " + c, "deliver 4 from " + a}
	if !slices.Equal(got, want) {
		t.Fatalf("opened %q\nwant %q", got, want)
	}
	if n := strings.Count(buf.String(), "mailbox:"); n != 5 {
		t.Fatalf("%d drops logged, want 5:\n%s", n, buf.String())
	}
}

// recorder is a Batches that writes down what Intake asked of it.
type recorder struct {
	calls []string
	fail  string // the call that fails
}

func (r *recorder) note(s string) error {
	r.calls = append(r.calls, s)
	if s == r.fail {
		return errors.New("store failed")
	}
	return nil
}

func (r *recorder) Pairwise(m *Mail, first bool) error {
	s := "p " + m.Sender + fmt.Sprint(m.Deliver.ID[0])
	if first {
		s += " first"
	}
	return r.note(s)
}
func (r *recorder) FinishPairwise() error { return r.note("end p") }
func (r *recorder) Group(m *Mail) error   { return r.note("g " + m.GroupID) }
func (r *recorder) FinishGroup() error    { return r.note("end g") }

// TestIntakeBatchesPerSenderAndKind: one batch per run of one sender's pairwise mail, one
// per run of group mail, each finished before the next starts; a failure stops the intake.
func TestIntakeBatchesPerSenderAndKind(t *testing.T) {
	t.Parallel()
	p := func(sender string, n byte) Mail { return Mail{Sender: sender, Deliver: &wire.Deliver{ID: wire.ID{n}}} }
	g := func(gid string) Mail { return Mail{Sender: "x", GroupID: gid, GroupEnv: []byte{1}} }
	mail := []Mail{p("a", 1), p("a", 2), p("b", 3), g("g1"), g("g2"), p("a", 4)}
	var r recorder
	if err := Intake(mail, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{"p a1 first", "p a2", "end p", "p b3 first", "end p", "g g1", "g g2", "end g", "p a4 first", "end p"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls %q\nwant  %q", r.calls, want)
	}
	r = recorder{fail: "g g1"}
	if err := Intake(mail, &r); err == nil || r.calls[len(r.calls)-1] != "g g1" {
		t.Fatalf("a failing batch did not stop the intake: %v %q", err, r.calls)
	}
	r = recorder{}
	if err := Intake([]Mail{g("g1")}, &r); err != nil || !slices.Equal(r.calls, []string{"g g1", "end g"}) {
		t.Fatalf("group mail alone: %v %q", err, r.calls)
	}
	if err := Intake(nil, &r); err != nil {
		t.Fatal(err)
	}
}

// FuzzOpen: whatever bytes a relay hands over as the node's mail, Open never panics, and
// what it returns is either pairwise or group mail, with the sender the envelope proves.
func FuzzOpen(f *testing.F) {
	alice, bob := newID(f), newID(f)
	f.Add(sealTo(f, alice, bob, deliverFrame(1)))
	f.Add(sharedTo(f, alice, bob, groupMail))
	f.Add(sharedTo(f, alice, bob, deliverFrame(1)))
	f.Add([]byte{sealed.SharedVersion})
	f.Fuzz(func(t *testing.T, env []byte) {
		for _, m := range Open(bob, [][]byte{env}, discard()) {
			if m.From == nil || m.Sender != string(alice.UserID()) {
				t.Fatalf("mail from %q", m.Sender)
			}
			if (m.Deliver == nil) == (m.GroupEnv == nil) || m.Deliver == nil && m.GroupID == "" {
				t.Fatalf("mail neither pairwise nor group: %+v", m)
			}
		}
	})
}
