package relaywire

import "fmt"

// A Code says how the relay answered a request. It travels in Result frames; clients turn
// it into a typed error.
type Code byte

// Result codes. New codes may be added; a client treats an unknown code as a refusal.
const (
	OK                  Code = 0
	CodeBadRequest      Code = 1  // a frame the relay did not expect or could not parse
	CodeTooLarge        Code = 2  // the envelope exceeds the relay's max envelope size
	CodeQuotaBytes      Code = 3  // the mailbox would exceed its byte quota
	CodeQuotaMessages   Code = 4  // the mailbox would exceed its message quota
	CodeRateLimited     Code = 5  // the depositor or the mailbox is over its deposit rate
	CodeUnknownMailbox  Code = 6  // deposit or bundle request for a mailbox not registered here
	CodeNotRegistered   Code = 7  // the authenticated owner has no mailbox here
	CodeBadEnvelope     Code = 8  // not a sealed envelope, or addressed to another mailbox
	CodeUnauthorized    Code = 9  // the challenge signature does not verify
	CodeRegistrationOff Code = 10 // the registration policy refuses this peer (or invite code)
	CodeBadPrekey       Code = 11 // an uploaded prekey is malformed or its signature is bad
	CodeNoPrekeys       Code = 12 // no prekeys uploaded for this mailbox
	CodeUnavailable     Code = 13 // the relay is shutting down or its store failed
	CodePushRefused     Code = 14 // the push bridge will not serve this registration (kind, endpoint, sealing)
	CodeBlobMismatch    Code = 15 // the uploaded bytes do not hash to the blob id
	CodeBlobSize        Code = 16 // a blob size that is not a padding bucket (the uploader pads)
	CodeBlobNotFound    Code = 17 // no such blob here (never uploaded, or expired)
)

// String returns the code's snake_case name (as in metrics labels and docs).
func (c Code) String() string {
	switch c {
	case OK:
		return "ok"
	case CodeBadRequest:
		return "bad_request"
	case CodeTooLarge:
		return "too_large"
	case CodeQuotaBytes:
		return "quota_bytes"
	case CodeQuotaMessages:
		return "quota_messages"
	case CodeRateLimited:
		return "rate_limited"
	case CodeUnknownMailbox:
		return "unknown_mailbox"
	case CodeNotRegistered:
		return "not_registered"
	case CodeBadEnvelope:
		return "bad_envelope"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeRegistrationOff:
		return "registration_refused"
	case CodeBadPrekey:
		return "bad_prekey"
	case CodeNoPrekeys:
		return "no_prekeys"
	case CodeUnavailable:
		return "unavailable"
	case CodePushRefused:
		return "push_refused"
	case CodeBlobMismatch:
		return "blob_mismatch"
	case CodeBlobSize:
		return "blob_size"
	case CodeBlobNotFound:
		return "blob_not_found"
	}
	return fmt.Sprintf("code_%d", byte(c))
}

// lastCode is the highest defined code.
const lastCode = CodeBlobNotFound

// Codes lists every defined code, for metrics.
func Codes() []Code {
	out := make([]Code, lastCode+1)
	for i := range out {
		out[i] = Code(i)
	}
	return out
}
