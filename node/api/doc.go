// Package api holds the JSON objects of the local API (docs/API.md §3–5) and the errors a
// node reports to UIs. The server (node/localapi), the typed client (node/localclient) and the
// node itself all speak these types, so the wire shape is defined in exactly one place.
//
// Errors: the node returns errors that wrap one of the sentinels below; node/localapi alone
// turns them into API.md codes and HTTP statuses. Text meant for a UI travels in a [*Error];
// any other error's text stays in the node's log and the UI sees only "internal error".
package api
