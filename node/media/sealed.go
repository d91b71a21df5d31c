package media

import (
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/media/mediarec"
	"github.com/petrel-chat/petrel/node/store"
)

// Sealer seals, at rest, the records of media that only disappearing messages use, under
// the key of their expiry's bucket (node/shredkeys; *shredkeys.Keyring is one): once that
// key is destroyed, no copy of a media's name or file key that Badger still holds can be
// opened, so neither can its chunks (node/media/mediarec).
type Sealer = mediarec.Sealer

// RefUntil says, in tx, what the timer of message msgID, which refers to media id (Ref), is:
// none (disappearing false), not started (expiresAt 0: received, not read yet) or
// expiring at expiresAt (Unix ms). The media's records (and its thumbnail's) are then
// sealed for the longest of its messages: plain once a lasting message uses it, else
// under the bucket of the latest expiry, or the Pending bucket while one is unread. A
// media id or reference that does not exist is nothing to do.
func (m *Store) RefUntil(tx *store.Tx, id, msgID string, disappearing bool, expiresAt int64) error {
	return m.rec.RefUntil(tx, id, msgID, disappearing, expiresAt)
}

// Expire removes message msgID's reference to media id at the message's expiry, in tx.
// When no other message refers to the media, it goes now rather than at a later GC: its
// records (and its thumbnail's) are deleted, and, once tx commits, the chunk files of any
// file no other media uses.
func (m *Store) Expire(tx *store.Tx, id, msgID string) error {
	if err := Unref(tx, id, msgID); err != nil {
		return err
	}
	if refd, err := hasPrefix(tx, refPrefix(id)); err != nil || refd {
		return err
	}
	md, err := m.getMedia(tx, id)
	if err != nil {
		return nil // gone already, or its key destroyed (GC removes it)
	}
	drop := []string{id}
	if md.Thumb != "" {
		drop = append(drop, md.Thumb)
	}
	gone, _, _, err := m.rec.Drop(tx, drop)
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		tx.OnCommit(func() {
			for _, h := range gone {
				if err := m.blobs.Remove(h); err != nil {
					m.log.Warn("removing a chunk of expired media", "err", err)
				}
			}
		})
	}
	return nil
}

// MessageTimer is RefUntil for every attachment of message msg, with msg's timer (none, not
// started, or its expires_at): what the messenger says with every write of a message.
func (m *Store) MessageTimer(tx *store.Tx, msg *api.Message) error {
	if msg.Deleted {
		return nil
	}
	var exp int64
	if msg.ExpiresAt != nil {
		exp = *msg.ExpiresAt
	}
	for _, a := range msg.Attachments {
		if err := m.RefUntil(tx, a.MediaID, msg.ID, msg.DisappearAfterS > 0, exp); err != nil {
			return fmt.Errorf("media: the timer of %s's media: %w", msg.ID, err)
		}
	}
	return nil
}

// ExpireMessage is Expire for each of mids, the media of expired message msgID.
func (m *Store) ExpireMessage(tx *store.Tx, msgID string, mids []string) error {
	for _, id := range mids {
		if err := m.Expire(tx, id, msgID); err != nil {
			return fmt.Errorf("media: media of an expired message: %w", err)
		}
	}
	return nil
}

// IDsOf lists the media ids of attachments as.
func IDsOf(as []api.Attachment) []string {
	ids := make([]string, 0, len(as))
	for _, a := range as {
		ids = append(ids, a.MediaID)
	}
	return ids
}
