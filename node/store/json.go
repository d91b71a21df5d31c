package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// GetJSON loads the record at key into v; found is false when the key is absent. A record
// that does not decode is an error naming the key's prefix (never its value).
func GetJSON(tx *Tx, key []byte, v any) (found bool, err error) {
	b, err := tx.Get(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("store: record %s: %w", KeyPrefix(key), err)
	}
	return true, nil
}

// PutJSON stores v at key as JSON.
func PutJSON(tx *Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", KeyPrefix(key), err)
	}
	return tx.Set(key, b)
}

// PutJSONIfChanged stores v at key as JSON unless the transaction already reads exactly
// those bytes there: rewriting a record unchanged (a contact's address book on every send)
// costs a seal, a Badger write and its bytes in the write-ahead log for nothing. It reports
// whether it wrote. The read goes through the transaction's writes and the writer's read
// cache, so use it for records the transaction has just read.
func PutJSONIfChanged(tx *Tx, key []byte, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("store: encode %s: %w", KeyPrefix(key), err)
	}
	old, err := tx.Get(key)
	switch {
	case err == nil && bytes.Equal(old, b):
		return false, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return false, err
	}
	return true, tx.Set(key, b)
}

// GetString returns the value at key as a string, or "" when absent.
func GetString(tx *Tx, key []byte) (string, error) {
	b, err := tx.Get(key)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// KeyPrefix is a key's first path element ("ms" of "ms/<id>"): what an error may name
// without leaking ids.
func KeyPrefix(k []byte) string {
	s := string(k)
	if i := strings.IndexByte(s, '/'); i > 0 {
		return s[:i]
	}
	return s
}
