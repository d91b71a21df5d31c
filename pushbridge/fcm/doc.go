// Package fcm sends Firebase Cloud Messaging pushes for the push bridge over the FCM HTTP v1
// API with plain net/http: POST {endpoint}/v1/projects/{project}/messages:send with an OAuth
// 2.0 access token that golang.org/x/oauth2/google obtains for the service account (JWT
// bearer grant to the account's token_uri, scope firebase.messaging).
//
// Every message is data-only and content-free ({"message":{"token":T,"data":{"petrel":"1"},
// "android":{"priority":"high"}}}): the app wakes and drains its relays; Google learns no
// sender and no text.
//
// Answers: 200 sent; 404 or an UNREGISTERED error code makes the registration dead; 429 and
// 5xx are retried (bridge, Retry-After honoured); anything else fails this push.
package fcm
