package mailboxclient

import (
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Errors callers branch on with errors.Is. A refusal matches ErrRefused and the sentinel of
// its reason; its *RefusedError carries the relay's message.
var (
	ErrRefused             = errors.New("relay refused the request")
	ErrBadRequest          = errors.New("relay: bad request")
	ErrTooLarge            = errors.New("relay: envelope too large")
	ErrQuotaBytes          = errors.New("relay: mailbox byte quota reached")
	ErrQuotaMessages       = errors.New("relay: mailbox message quota reached")
	ErrRateLimited         = errors.New("relay: rate limited")
	ErrUnknownMailbox      = errors.New("relay: unknown mailbox")
	ErrNotRegistered       = errors.New("relay: not registered")
	ErrBadEnvelope         = errors.New("relay: bad envelope")
	ErrUnauthorized        = errors.New("relay: unauthorized")
	ErrRegistrationRefused = errors.New("relay: registration refused")
	ErrBadPrekey           = errors.New("relay: bad prekey")
	ErrNoPrekeys           = errors.New("relay: no prekeys")
	ErrUnavailable         = errors.New("relay: unavailable")
	ErrPushRefused         = errors.New("relay: push registration refused")

	// ErrProtocol: the relay sent bytes that break the protocol (malformed, unexpected, a
	// bundle for another identity). The relay is faulty or hostile.
	ErrProtocol = errors.New("mailboxclient: relay broke the protocol")
)

// sentinel returns the errors.Is target of a refusal code, or nil for an unknown one.
func sentinel(c relaywire.Code) error {
	switch c {
	case relaywire.CodeBadRequest:
		return ErrBadRequest
	case relaywire.CodeTooLarge:
		return ErrTooLarge
	case relaywire.CodeQuotaBytes:
		return ErrQuotaBytes
	case relaywire.CodeQuotaMessages:
		return ErrQuotaMessages
	case relaywire.CodeRateLimited:
		return ErrRateLimited
	case relaywire.CodeUnknownMailbox:
		return ErrUnknownMailbox
	case relaywire.CodeNotRegistered:
		return ErrNotRegistered
	case relaywire.CodeBadEnvelope:
		return ErrBadEnvelope
	case relaywire.CodeUnauthorized:
		return ErrUnauthorized
	case relaywire.CodeRegistrationOff:
		return ErrRegistrationRefused
	case relaywire.CodeBadPrekey:
		return ErrBadPrekey
	case relaywire.CodeNoPrekeys:
		return ErrNoPrekeys
	case relaywire.CodeUnavailable:
		return ErrUnavailable
	case relaywire.CodePushRefused:
		return ErrPushRefused
	case relaywire.CodeBlobMismatch:
		return ErrBlobMismatch
	case relaywire.CodeBlobSize:
		return ErrBlobSize
	case relaywire.CodeBlobNotFound:
		return ErrBlobNotFound
	}
	return nil
}

// RefusedError is a relay's refusal: its reason code and message (the relay's words, at
// most 256 bytes; show them as the relay's, not ours).
type RefusedError struct {
	Code    relaywire.Code
	Message string
}

func (e *RefusedError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("relay refused: %s", e.Code)
	}
	return fmt.Sprintf("relay refused: %s: %q", e.Code, e.Message)
}

// Is matches ErrRefused and the sentinel of the code.
func (e *RefusedError) Is(target error) bool {
	return target == ErrRefused || (target != nil && sentinel(e.Code) == target)
}

func refusal(r relaywire.Result) error {
	if r.Code == relaywire.OK {
		return fmt.Errorf("%w: an OK where a refusal was expected", ErrProtocol)
	}
	return &RefusedError{Code: r.Code, Message: r.Message}
}
