package grouplog

import (
	"encoding/json"

	"github.com/petrel-chat/petrel/node/store"
)

// Each calls f for every group held, loaded (Load: with its members and SendSeq).
func Each(tx *store.Tx, f func(*Group) error) error {
	var ids []string
	err := tx.Iterate(store.IterOptions{Prefix: []byte("gr/")}, func(_, v []byte) (bool, error) {
		var g Group
		if err := json.Unmarshal(v, &g); err != nil {
			return false, err
		}
		ids = append(ids, g.ID)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		g, err := Load(tx, id)
		if err != nil {
			return err
		}
		if err := f(g); err != nil {
			return err
		}
	}
	return nil
}
