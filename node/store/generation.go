package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// Rollback detection (doc.go, "Rollback"): a generation counter kept twice, in the
// database and in DIR/generation, raised on every open.
const (
	generationFileName = "generation"
	generationTmpGlob  = ".generation-*.tmp"
)

// reservedPrefix is the store's own key namespace inside Badger: refused to callers,
// skipped by Iterate.
var reservedPrefix = []byte("!petrel!")

var (
	generationKey     = []byte("!petrel!generation")
	generationFileKey = []byte("!petrel!generation-file") // the AEAD binding of the file's copy
)

// checkGeneration compares the database's generation with the generation file's and raises
// both: the database first (durably), then the file. A database whose generation is below
// the file's is a copy older than the directory's last open: ErrRolledBack, and nothing is
// written. A missing file is accepted (a store created before detection existed, or a file
// removed to accept an older copy knowingly) and written again.
func checkGeneration(dir string, db *badger.DB, seal *sealer) error {
	var inDB uint64
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(generationKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sealed, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		inDB, err = openGeneration(seal, generationKey, sealed)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: database generation: %w", err)
	}
	var inFile uint64
	haveFile := false
	switch b, err := os.ReadFile(filepath.Join(dir, generationFileName)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("store: read %s: %w", generationFileName, err)
	default:
		if inFile, err = openGeneration(seal, generationFileKey, b); err != nil {
			return fmt.Errorf("store: %s: %w", generationFileName, err)
		}
		haveFile = true
	}
	if haveFile && inDB < inFile {
		return fmt.Errorf("%w: the database is at generation %d, the directory was last opened at %d", ErrRolledBack, inDB, inFile)
	}
	next := max(inDB, inFile) + 1
	if next == 0 {
		return fmt.Errorf("store: generation counter exhausted")
	}
	v := binary.BigEndian.AppendUint64(nil, next)
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set(generationKey, seal.seal(generationKey, v))
	}); err != nil {
		return fmt.Errorf("store: database generation: %w", err)
	}
	return writeAtomic(dir, generationFileName, generationTmpGlob, seal.seal(generationFileKey, v), false)
}

func openGeneration(seal *sealer, key, sealed []byte) (uint64, error) {
	v, err := seal.open(key, sealed)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: generation of %d bytes", ErrTampered, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// reserved reports whether key is in the store's own namespace.
func reserved(key []byte) bool { return bytes.HasPrefix(key, reservedPrefix) }
