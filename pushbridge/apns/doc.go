// Package apns sends Apple Push Notification service pushes for the push bridge, through
// github.com/sideshow/apns2 over HTTP/2 with token authentication: an ES256 provider token
// (JWT with kid = key id, iss = team id, iat) signed with the team's .p8 key, renewed
// before the hour APNs allows. Every push is content-free: a background push
// (apns-push-type background, apns-priority 5, payload {"aps":{"content-available":1}}),
// so the app wakes and drains its relays; Apple learns no sender and no text.
//
// Answers: 200 sent; 410 Unregistered and 400 BadDeviceToken make the registration dead;
// 429 and 5xx are retried (bridge); anything else fails this push.
package apns
