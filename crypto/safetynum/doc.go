// Package safetynum computes safety numbers: the numeric fingerprints two people compare
// (read aloud, or by scanning a QR code) to verify that their sessions use each other's
// real identity keys, after Signal's numeric fingerprints.
//
// The package owns the fingerprint derivation, its display form and the scannable form.
// It hashes the Ed25519 identity public key (the X25519 identity key is signed by it, so
// it is covered) together with a stable identifier the caller chooses (e.g. the user's
// id); a number changes whenever either party's key changes.
//
// # Derivation (version 1)
//
// For one party with stable identifier id and 32-byte Ed25519 public key K:
//
//	h_0     = 0x0001 (version, 2 bytes big-endian) ‖ K ‖ id
//	h_i     = SHA-512(h_{i-1} ‖ K)            for i = 1 … 5200
//	digits  = for each 5-byte chunk c_j = h_5200[5j : 5j+5], j = 0 … 5:
//	          uint40 big-endian(c_j) mod 100000, as 5 decimal digits
//
// Fingerprint returns one party's 30 digits (6 groups of 5). A safety Number is both
// parties' 30 digits, the numerically smaller string first, so both sides display the
// same 60 digits (12 groups of 5).
//
// # Scannable form (65 bytes)
//
//	version 0x01 ‖ local h_5200[0:32] ‖ remote h_5200[0:32]
//
// The other side's scan matches ours when its local part is our remote part and its
// remote part is our local part (Number.MatchScanned, compared in constant time).
package safetynum
