package localapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
)

// Error codes of API.md §2.
const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeNotFound     = "not_found"
	codeBadRequest   = "bad_request"
	codeTooLarge     = "too_large"
	codeConflict     = "conflict"
	codeRateLimited  = "rate_limited"
	codeInternal     = "internal"
	// Extensions.
	codeMisdirected      = "misdirected"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnavailable      = "unavailable"
	codeNotImplemented   = "not_implemented"
)

type errorBody struct {
	Error errorObj `json:"error"`
}

type errorObj struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// classify maps a node error to an API code, HTTP status and UI-safe message.
func classify(err error) (code string, status int, msg string) {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return codeTooLarge, http.StatusRequestEntityTooLarge, "request body too large"
	case errors.Is(err, api.ErrBadRequest):
		code, status = codeBadRequest, http.StatusBadRequest
	case errors.Is(err, api.ErrUnauthorized):
		code, status = codeUnauthorized, http.StatusUnauthorized
	case errors.Is(err, api.ErrForbidden):
		code, status = codeForbidden, http.StatusForbidden
	case errors.Is(err, api.ErrNotFound):
		code, status = codeNotFound, http.StatusNotFound
	case errors.Is(err, api.ErrConflict):
		code, status = codeConflict, http.StatusConflict
	case errors.Is(err, api.ErrTooLarge):
		code, status = codeTooLarge, http.StatusRequestEntityTooLarge
	case errors.Is(err, api.ErrRateLimited):
		code, status = codeRateLimited, http.StatusTooManyRequests
	case errors.Is(err, api.ErrUnavailable):
		code, status = codeUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, api.ErrNotImplemented):
		code, status = codeNotImplemented, http.StatusNotImplemented
	default:
		return codeInternal, http.StatusInternalServerError, "internal error"
	}
	var pub *api.Error
	if errors.As(err, &pub) {
		msg = pub.Message
	} else {
		msg = http.StatusText(status)
	}
	return code, status, msg
}

// writeError answers with the JSON error for err, logging errors the UI is not told about.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := classify(err)
	if code == codeInternal {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeErrorCode(w, status, code, msg)
}

func writeErrorCode(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: errorObj{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
