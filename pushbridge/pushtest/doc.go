// Package pushtest runs local stand-ins for the push services petrel's bridge talks to,
// each speaking the provider's real wire protocol and checking what it receives, so the
// bridge is tested end to end without Apple, Google or a UnifiedPush distributor:
//
//   - PushServer: a Web Push (RFC 8030) push service, optionally also a UnifiedPush server
//     (discovery GET → {"unifiedpush":{"version":1}}, POST → 201). It verifies the VAPID
//     JWT (RFC 8292) of every push, decrypts RFC 8291 aes128gcm bodies with a
//     browser-style Subscription's keys, and answers as scripted (201, 404, 410, 413, 429).
//   - APNs: an HTTP/2 + TLS server on /3/device/{token} that verifies the ES256 provider
//     token (kid, iss, iat), the topic, push type and priority, and answers 200, 400
//     BadDeviceToken or 410 Unregistered.
//   - FCM: an OAuth 2.0 token endpoint (JWT bearer grant, RS256, checked against the
//     service account's key) and the FCM HTTP v1 messages:send endpoint checking the
//     bearer it issued and answering 200 or 404 UNREGISTERED.
package pushtest
