package store

import (
	"fmt"
	"strings"
)

// subkeyInfoPrefix is the namespace of keys DeriveKey hands to other packages; the
// store's own subkeys (record, Badger) are outside it, so no caller can obtain them.
const subkeyInfoPrefix = "petrel_v1_subkey_"

// DeriveKey returns a 32-byte key for another package's use, derived from the data key:
// HKDF-SHA-256(ikm = data key, salt = none, info). info must start with
// "petrel_v1_subkey_" and name its use (e.g. "petrel_v1_subkey_shredkeys_slot"), so the
// store's own subkeys cannot be derived through it. The key is as secret as the data key
// (the passphrase unlocks it); the caller owns the returned slice and should clear it.
func (s *Store) DeriveKey(info string) ([]byte, error) {
	if !strings.HasPrefix(info, subkeyInfoPrefix) || len(info) == len(subkeyInfoPrefix) {
		return nil, fmt.Errorf("store: derive key: info %q does not start with %q and a name", info, subkeyInfoPrefix)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	return deriveSubkey(s.dataKey, info)
}

// Dir is the store's data directory (the one given to Create or Open).
func (s *Store) Dir() string { return s.dir }
