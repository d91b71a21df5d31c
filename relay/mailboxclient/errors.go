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

	// ErrProtocol: the relay sent bytes that break the protocol (malformed, unexpected, a
	// bundle for another identity). The relay is faulty or hostile.
	ErrProtocol = errors.New("mailboxclient: relay broke the protocol")
)

var sentinels = map[relaywire.Code]error{
	relaywire.CodeBadRequest:      ErrBadRequest,
	relaywire.CodeTooLarge:        ErrTooLarge,
	relaywire.CodeQuotaBytes:      ErrQuotaBytes,
	relaywire.CodeQuotaMessages:   ErrQuotaMessages,
	relaywire.CodeRateLimited:     ErrRateLimited,
	relaywire.CodeUnknownMailbox:  ErrUnknownMailbox,
	relaywire.CodeNotRegistered:   ErrNotRegistered,
	relaywire.CodeBadEnvelope:     ErrBadEnvelope,
	relaywire.CodeUnauthorized:    ErrUnauthorized,
	relaywire.CodeRegistrationOff: ErrRegistrationRefused,
	relaywire.CodeBadPrekey:       ErrBadPrekey,
	relaywire.CodeNoPrekeys:       ErrNoPrekeys,
	relaywire.CodeUnavailable:     ErrUnavailable,
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
	return target == ErrRefused || (target != nil && sentinels[e.Code] == target)
}

func refusal(r relaywire.Result) error {
	if r.Code == relaywire.OK {
		return fmt.Errorf("%w: an OK where a refusal was expected", ErrProtocol)
	}
	return &RefusedError{Code: r.Code, Message: r.Message}
}
