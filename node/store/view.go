package store

// View runs fn in a read-only snapshot of everything committed when it starts. Set and
// Delete return ErrReadOnly. After Close, View returns ErrClosed. fn's error is returned
// as-is.
func (s *Store) View(fn func(tx *Tx) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	tx := &Tx{s: s, txn: txn}
	err := fn(tx)
	tx.done = true
	if err == nil {
		for _, f := range tx.onCommit {
			f()
		}
	}
	return err
}
