package localapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
)

// decodeBody reads a JSON object of at most MaxBodyBytes into v. The body must be valid
// UTF-8 (RFC 8259); encoding/json alone would silently replace bad bytes.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// readBody reads a request body of at most MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	if err != nil && !errors.As(err, &maxErr) {
		return nil, api.Errorf(api.ErrBadRequest, "cannot read the request body")
	}
	return b, err
}

// decodeJSON decodes exactly one JSON value of valid UTF-8 from b into v.
func decodeJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return api.Errorf(api.ErrBadRequest, "empty request body")
	}
	if !utf8.Valid(b) {
		return api.Errorf(api.ErrBadRequest, "malformed JSON: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return api.Errorf(api.ErrBadRequest, "malformed JSON: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return api.Errorf(api.ErrBadRequest, "malformed JSON: trailing data after the value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "cannot parse"
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	me, err := s.cfg.Backend.Me(r.Context())
	s.reply(w, r, http.StatusOK, me, err)
}

func (s *Server) patchMe(w http.ResponseWriter, r *http.Request) {
	var p api.MePatch
	if err := s.decodeBody(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	me, err := s.cfg.Backend.UpdateMe(r.Context(), p)
	s.reply(w, r, http.StatusOK, me, err)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Backend.Status(r.Context())
	s.reply(w, r, http.StatusOK, st, err)
}

// getEvents is GET /v1/events?since=SEQ&limit=N: the same log the socket replays.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := uintParam(q.Get("since"), 0)
	if err != nil {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "since: %v", err))
		return
	}
	// Paging as for every list (docs/API.md): 0 or absent is the default page, a bigger page
	// than the maximum is the maximum.
	limit, err := uintParam(q.Get("limit"), 0)
	if err != nil {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "limit must be 0..%d", eventlog.MaxPage))
		return
	}
	if limit == 0 {
		limit = eventlog.DefaultPage
	}
	limit = min(limit, eventlog.MaxPage)
	// next is the last returned seq, or since itself when nothing is returned, a since
	// beyond the log's end too (GET /v1/events/latest tells a UI where the log ends).
	evs, _, err := s.cfg.Backend.Events().Since(since, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := api.EventPage{Events: evs, Next: since}
	if page.Events == nil {
		page.Events = []api.Event{}
	}
	if n := len(evs); n > 0 {
		page.Next = evs[n-1].Seq
	}
	writeJSON(w, http.StatusOK, page)
}

func uintParam(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a non-negative integer")
	}
	return v, nil
}
