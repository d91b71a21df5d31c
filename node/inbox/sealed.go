package inbox

import (
	"log/slog"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/wire"
)

// Mail is one envelope drained from the node's own mailbox, opened.
type Mail struct {
	// From is the sealed sender the envelope authenticated (both identity keys), Sender
	// its user id.
	From   *sealed.Opened
	Sender string
	// Deliver is pairwise mail (a sealed envelope). It is nil for group mail (a shared
	// envelope of a multi deposit), which carries GroupEnv, an envelope of group GroupID.
	Deliver  *wire.Deliver
	GroupID  string
	GroupEnv []byte
}

// Open opens envelopes drained from the mailbox of id, in the order the relay kept them.
// An envelope that does not open for id, or whose payload does not parse, is dropped
// (logged) rather than kept forever: the relay is told it was taken all the same.
func Open(id *identity.Identity, envelopes [][]byte, log *slog.Logger) []Mail {
	var out []Mail
	for _, env := range envelopes {
		if sealed.IsShared(env) {
			o, err := sealed.OpenSharedFor(env, id)
			if err != nil {
				log.Info("mailbox: shared envelope refused", "err", err)
				continue
			}
			gid, genv, err := wire.ParseGroupMail(o.Payload)
			if err != nil {
				log.Info("mailbox: malformed group mail", "err", err)
				continue
			}
			out = append(out, Mail{From: o, Sender: senderOf(o), GroupID: gid, GroupEnv: genv})
			continue
		}
		o, err := sealed.OpenFor(env, id)
		if err != nil {
			log.Info("mailbox: envelope refused", "err", err)
			continue
		}
		d, err := wire.ParseDeliver(o.Payload)
		if err != nil {
			log.Info("mailbox: malformed deliver", "err", err)
			continue
		}
		out = append(out, Mail{From: o, Sender: senderOf(o), Deliver: d})
	}
	return out
}

func senderOf(o *sealed.Opened) string {
	return string(identity.UserIDForSigningKey(o.SenderSigningKey))
}

// Batches are the two kinds of batch of one receiving transaction, which the façade keeps:
// a contact's pairwise mail and the group mail.
type Batches interface {
	// Pairwise takes one pairwise mail. first is set on the first mail of a batch: a new
	// sender, or the first pairwise mail after group mail.
	Pairwise(m *Mail, first bool) error
	// FinishPairwise ends the current pairwise batch (its receipts, its saves).
	FinishPairwise() error
	// Group takes one group mail.
	Group(m *Mail) error
	// FinishGroup ends the current group batch.
	FinishGroup() error
}

// Intake feeds mail to bs in order: pairwise mail in one batch per run of one sender's,
// group mail in one batch per run of group mail. A batch is finished before the next one
// starts, so each loads the contacts the one before saved.
func Intake(mail []Mail, bs Batches) error {
	pairwise, group := false, false
	sender := ""
	for i := range mail {
		m := &mail[i]
		if m.Deliver == nil {
			if pairwise {
				if err := bs.FinishPairwise(); err != nil {
					return err
				}
				pairwise = false
			}
			group = true
			if err := bs.Group(m); err != nil {
				return err
			}
			continue
		}
		if group {
			if err := bs.FinishGroup(); err != nil {
				return err
			}
			group = false
		}
		first := !pairwise || m.Sender != sender
		if first && pairwise {
			if err := bs.FinishPairwise(); err != nil {
				return err
			}
		}
		pairwise, sender = true, m.Sender
		if err := bs.Pairwise(m, first); err != nil {
			return err
		}
	}
	if group {
		return bs.FinishGroup()
	}
	if pairwise {
		return bs.FinishPairwise()
	}
	return nil
}
