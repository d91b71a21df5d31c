// Package bridge is the provider-independent half of petrel's push bridge: it decides when
// to wake a device and what the wake-up carries, and hands the sending to one Sender per
// provider (pushbridge/webpush, unifiedpush, apns, fcm).
//
// # When
//
// The relay calls Notify after a deposit is durable in a mailbox whose owner has no watch
// stream open. For each of the owner's active registrations the bridge sends at most one
// push per MinInterval (default 10 s); deposits inside the window coalesce into one more
// push when it ends, carrying the newest envelope. A burst of any length therefore costs a
// registration at most two pushes: the first at once, one after the burst. When the owner
// opens a watch stream (Online) pending pushes are dropped: the node is draining already.
// Until the owner's do-not-disturb time nothing is sent.
//
// # What
//
// Web Push and UnifiedPush carry an RFC 8291 (aes128gcm) message whose plaintext is
//
//	version 0x01 (1) ‖ kind (1: 0x00 wake-up, 0x01 envelope) ‖ sealed envelope (kind 0x01 only)
//
// The envelope is the crypto/sealed envelope just deposited, exactly as the owner would
// fetch it: only the owner's identity key opens it, and it names no sender. It rides when
// it fits the record (MaxEnvelope); otherwise, or when the provider answers 413, the push
// is a content-free wake-up. Senders pad every record to the same size, so the provider
// learns nothing from lengths. APNs and FCM pushes are always content-free.
//
// # Providers' answers
//
// A Sender returns nil, or a *ProviderError: Dead (404/410, APNs Unregistered or
// BadDeviceToken, FCM UNREGISTERED) makes the registration dead for good (Registry.MarkDead);
// Retry (429, 5xx, network errors) is retried with exponential backoff, honouring
// Retry-After, up to MaxRetries; anything else counts as failed.
//
// # Endpoints
//
// Web Push and UnifiedPush endpoints come from users, so they are fetched through
// GuardedClient: https only and public addresses only (checked on the resolved address at
// dial time, so DNS rebinding does not help), no redirects, no proxy. AllowPrivate (the
// relay's push.allow_private_endpoints, for tests and closed networks) lifts both checks.
package bridge
