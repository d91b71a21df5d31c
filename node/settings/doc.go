// Package settings holds the user's settings (docs/API.md, GET and PATCH /v1/settings):
// whom presence is shown to and whether read receipts are sent, with their defaults.
//
// Store keys (value JSON, sealed by node/store):
//
//	settings   the settings (api.Settings)
package settings
