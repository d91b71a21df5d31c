// Package mediaapi serves the media routes of the local API (docs/API.md §6): POST
// /v1/media, a raw body streamed into the media store (X-Filename; over the node's limit
// 413, before a byte is read or when the stream crosses it, keeping nothing); tus 1.0
// resumable uploads at /v1/media/uploads (core, creation and termination, our own core on
// node/media's durable upload sessions: tusd would need a data store of its own), with
// Petrel-Media-Id once complete; and GET /v1/media/{id} (Range, multipart ranges, ETag) and
// its info. Every media answer carries nosniff, a sandbox Content-Security-Policy and
// no-store, and only raster images, audio and video are inline, so an uploaded page or SVG
// never runs script in the API's origin. A media id not here in full answers 409 after
// asking the node to download it.
//
// The local API (node/localapi) creates the Handlers, lists each in its one sorted route
// table, and gives them its replies (Replies: it alone maps node errors to the codes of
// docs/API.md §2); its middleware gives the two requests whose body is a file
// (IsMediaBody) the media size limit and a deadline that moves with the bytes.
//
// Store keys: none of its own; the media store (node/media) keeps the files and uploads.
package mediaapi
