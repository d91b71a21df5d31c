package store

import "errors"

// Errors to branch on with errors.Is. Functions wrap them with context.
var (
	// ErrWrongPassphrase: the passphrase does not unwrap the data key. A header whose
	// parameters, salt or wrapped key were edited reports this too: the header is the
	// associated data of the key wrap, so an edit and a wrong passphrase look the same.
	ErrWrongPassphrase = errors.New("store: wrong passphrase")
	// ErrNotInitialized: Open on a directory with no key file.
	ErrNotInitialized = errors.New("store: no store in this directory")
	// ErrExists: Create on a directory that already holds a key file or database files.
	ErrExists = errors.New("store: a store already exists here")
	// ErrNotFound: the key has no value.
	ErrNotFound = errors.New("store: not found")
	// ErrTampered: a sealed record failed authentication (edited, truncated, or moved to
	// another key).
	ErrTampered = errors.New("store: record failed authentication")
	// ErrWeakParams: key-derivation parameters below DefaultKDFParams, in Options or in a
	// key file.
	ErrWeakParams = errors.New("store: key-derivation parameters below the floor")
	// ErrLocked: another process has the store open (Badger's directory lock).
	ErrLocked = errors.New("store: in use by another process")
	// ErrRolledBack: the database is older than the directory's last open (its generation
	// is below the generation file's): a copy of db/ was put back. Nothing was written.
	// Removing DIR/generation accepts the older copy (doc.go, "Rollback").
	ErrRolledBack = errors.New("store: the database was rolled back to an older copy")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")

	// ErrCorruptHeader: the key file is not a well-formed store header (bad length, magic,
	// version, KDF id, or parameters above the ceiling).
	ErrCorruptHeader = errors.New("store: malformed key file")
	// ErrReadOnly: Set or Delete inside View.
	ErrReadOnly = errors.New("store: write in a read-only transaction")
	// ErrTxDone: a Tx was used after its function returned.
	ErrTxDone = errors.New("store: transaction used after its function returned")
	// ErrInvalidKey: an empty key, a key longer than MaxKeySize, or a key in Badger's
	// reserved "!badger!" namespace.
	ErrInvalidKey = errors.New("store: invalid key")
)
