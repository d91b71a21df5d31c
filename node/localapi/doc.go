// Package localapi serves the node's local API (docs/API.md §2, §4, §5) to the UIs of the
// person who owns the node: REST under /v1/ and one WebSocket, /v1/ws.
//
// Every request passes one chain, outermost first (see [Server.Handler]):
//
//  0. body deadline: a request with a body has Limits.BodyTimeout to send it (lifted once it
//     is read); the listener holds at most Limits.MaxConns connections, the oldest
//     unauthenticated one making room for a new one (see [Limits]);
//  1. host check: the Host header must name a loopback address or localhost with the API's
//     own port, else 421 — a page that rebinds its DNS name to 127.0.0.1 reaches nothing;
//  2. security headers: a strict Content-Security-Policy, nosniff, frame-deny, no referrer;
//  3. authentication under /v1/, before any body is read: the bearer token (compared in
//     constant time), or ?token= on the socket (browsers cannot set headers there), or a web
//     UI session cookie (random, kept hashed by the node, ended by logout or a token
//     rotation); a state-changing request authenticated by the cookie alone must carry the
//     CSRF header. A request refused before its body is read closes its connection;
//  4. the WebSocket upgrade is refused with 403 when an Origin header names another origin;
//  5. request bodies are capped (http.MaxBytesReader) and socket frames too (64 KiB): too
//     large is refused with too_large and the socket stays open. The two bodies that are
//     files (POST /v1/media, a tus PATCH) are capped at the node's media size limit instead,
//     streamed into the media store, and their read deadline moves with the bytes.
//
// Media (API.md §6) is node/localapi/mediaapi, registered in the route table: raw uploads,
// tus 1.0 resumable uploads (core, creation, termination) on node/media's upload sessions,
// and the decrypted bytes served with Range, sandboxed so that an uploaded page never runs
// in the API's origin.
//
// Errors are JSON, {"error":{"code","message"}}; this package alone maps the node's errors
// (node/api sentinels) to codes. Text of unexpected errors is logged, never sent.
//
// Socket frames (API.md §5) are JSON text frames, "type" first. The writer side of each socket
// owns a cursor into the event log: hello{since} moves it, replay and live delivery are the
// same pull loop ([eventlog.Log.Since] after a coalesced signal), so a UI that reconnects with
// the last seq it saw misses nothing and sees nothing twice.
package localapi
