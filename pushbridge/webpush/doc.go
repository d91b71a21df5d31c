// Package webpush sends Web Push messages (RFC 8030) for the push bridge: the payload is
// encrypted to the subscription's keys with RFC 8291 (aes128gcm, one record of
// bridge.RecordSize bytes, so every push has the same length) and the request carries a
// VAPID (RFC 8292) JWT signed with the relay's key, through
// github.com/SherClockHolmes/webpush-go.
//
// The VAPID key pair is the relay's: LoadOrCreateVAPID keeps it in a file in the relay's
// data directory (mode 0600, JSON {"public_key","private_key"}, both base64url without
// padding: the uncompressed P-256 point and the scalar), generated on first use.
package webpush
