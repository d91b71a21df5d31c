// Package localclient is the typed Go client of the local API (docs/API.md): REST calls
// return node/api objects, errors come back as *APIError with the API's code, and Dial opens
// the WebSocket. The CLI, `petrel demo` and the tests all talk to nodes through it, so the
// API is exercised the way a third-party UI uses it.
package localclient
