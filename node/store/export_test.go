package store

import "github.com/dgraph-io/badger/v4"

// rawGet returns the bytes Badger holds for key (the sealed value), bypassing the AEAD.
func (s *Store) rawGet(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// rawSet writes raw bytes under key directly into Badger, bypassing the AEAD, as someone
// with write access to the (decrypted) database could.
func (s *Store) rawSet(key, raw []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, raw) })
}

// queued is how many Update requests wait for the writer.
func (s *Store) queued() int { return s.w.Queued() }
