package store

import (
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
