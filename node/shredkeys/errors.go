package shredkeys

import "errors"

// Errors to branch on with errors.Is.
var (
	// ErrShredded: the content was sealed under a bucket whose key has been destroyed. It
	// is gone for good; delete the record that holds it.
	ErrShredded = errors.New("shredkeys: the key of this content was destroyed")
	// ErrKeyDamaged: the bucket exists but its slot in the key file does not
	// authenticate (the file was truncated or overwritten). The content under it cannot
	// be opened; no other bucket is affected.
	ErrKeyDamaged = errors.New("shredkeys: the key of this content is damaged in the key file")
	// ErrNoBucket: Seal or Reseal named a bucket that does not exist (never created, or
	// destroyed meanwhile): get one again with ExpiryBucket or PendingBucket.
	ErrNoBucket = errors.New("shredkeys: no such bucket")
	// ErrExpired: ExpiryBucket for a time whose window has already ended; the content is
	// expired already and must not be stored.
	ErrExpired = errors.New("shredkeys: expiry already past")
	// ErrCorruptFile: the key file's header is not one this version writes (bad magic,
	// unknown version, too short). Nothing was modified.
	ErrCorruptFile = errors.New("shredkeys: malformed key file")
	// ErrMalformed: sealed content, or a record, that is not in this package's format.
	ErrMalformed = errors.New("shredkeys: malformed")
	// ErrTampered: sealed content that fails authentication (edited, or moved to another
	// associated data).
	ErrTampered = errors.New("shredkeys: content failed authentication")
	// ErrClosed: the keyring was closed.
	ErrClosed = errors.New("shredkeys: closed")
)
