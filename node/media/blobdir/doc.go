// Package blobdir is node/media's chunk directory: sealed chunk ciphertexts, one file
// each, named by the hex SHA-256 of its bytes (DIR/chunks/<hex hash>, a 0700 directory).
// A blob is written to a temporary file, fsynced and renamed; SyncDir makes the renames
// durable, once per file rather than once per chunk, before a record names them
// (BENCHMARKS.md, "Media"). A read checks the bytes against the name, so a blob edited
// on disk is ErrCorrupt. It owns no store keys; nothing in it is plaintext.
package blobdir
