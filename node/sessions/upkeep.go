package sessions

import (
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
)

// Upkeep is the prekey store's care at start: it creates the store on first use
// (LoadPrekeys), rotates the signed and last-resort keys when they are due and refills the
// one-time keys, saving the store when either changed it.
func Upkeep(tx *store.Tx, id *identity.Identity, now time.Time) error {
	ps, err := LoadPrekeys(tx, id, now)
	if err != nil {
		return err
	}
	changed := false
	if ps.NeedsRotation(now) {
		if err := ps.Rotate(id, now); err != nil {
			return err
		}
		changed = true
	}
	if opk, pq, err := ps.Refill(id, now); err != nil {
		return err
	} else if len(opk)+len(pq) > 0 {
		changed = true
	}
	if changed {
		return SavePrekeys(tx, ps)
	}
	return nil
}
