package api

import (
	"errors"
	"fmt"
)

// Sentinels the node wraps; node/localapi maps each to an API.md error code.
var (
	ErrBadRequest   = errors.New("bad request")  // bad_request, 400
	ErrUnauthorized = errors.New("unauthorized") // unauthorized, 401
	ErrForbidden    = errors.New("forbidden")    // forbidden, 403
	ErrNotFound     = errors.New("not found")    // not_found, 404
	ErrConflict     = errors.New("conflict")     // conflict, 409
	ErrTooLarge     = errors.New("too large")    // too_large, 413
	ErrRateLimited  = errors.New("rate limited") // rate_limited, 429
	ErrUnavailable  = errors.New("unavailable")  // unavailable, 503 (extension)
	// ErrNotImplemented: a request the contract defines that this node cannot serve yet.
	ErrNotImplemented = errors.New("not implemented") // not_implemented, 501 (extension)
)

// Error is an error whose Message is safe to show a UI. Kind is one of the sentinels above.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a formatted, UI-safe message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
