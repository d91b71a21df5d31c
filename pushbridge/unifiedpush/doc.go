// Package unifiedpush sends pushes to UnifiedPush endpoints for the push bridge. Before the
// first push to an endpoint the sender discovers it: GET endpoint must answer
// {"unifiedpush":{"version":1}} (404 or 410: the registration is dead; anything else: a
// retryable failure). Pushes are Web Push messages (pushbridge/webpush: RFC 8291 aes128gcm
// encrypted to the keys the node generated and registered, with VAPID); the server answers
// 201, 404/410 (dead), 413 (too large: a wake-up follows), 429 (slow down, Retry-After).
package unifiedpush
