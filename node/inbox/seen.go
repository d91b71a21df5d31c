package inbox

import (
	"errors"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// seenKey is the record of an envelope of contact cid already processed.
func seenKey(cid string, env wire.ID) []byte { return append([]byte("rx/"+cid+"/"), env[:]...) }

// Seen reports whether envelope env of contact cid was processed already (MarkSeen): a
// copy resent after a lost acknowledgement, acknowledged again and never applied twice.
func Seen(tx *store.Tx, cid string, env wire.ID) (bool, error) {
	_, err := tx.Get(seenKey(cid, env))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// MarkSeen records that envelope env of contact cid decrypted, in the transaction that
// stores what it carried.
func MarkSeen(tx *store.Tx, cid string, env wire.ID) error {
	return tx.Set(seenKey(cid, env), nil)
}
