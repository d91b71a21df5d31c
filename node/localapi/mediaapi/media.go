package mediaapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-chat/petrel/node/api"
)

// Media is the node's media part (API.md §6). A Backend that does not implement it answers
// the media routes with 501. Errors wrap node/api sentinels: not_found for an unknown id,
// too_large over the node's limit, conflict for media not here yet or an upload offset that
// is not the upload's.
type Media interface {
	// MediaMaxSize is the largest file the node takes, in bytes.
	MediaMaxSize() int64
	// PutMedia stores the bytes of r as one file, streaming.
	PutMedia(ctx context.Context, r io.Reader, name, mime string) (api.Attachment, error)
	// MediaInfo describes a media id.
	MediaInfo(ctx context.Context, id string) (api.Attachment, error)
	// OpenMedia reads the plaintext of a media id that is here in full (conflict if not).
	OpenMedia(ctx context.Context, id string) (io.ReadSeeker, api.Attachment, error)
	// StartDownload asks the node to fetch a received media id that is not here yet; it
	// returns at once, progress arrives as message_update events.
	StartDownload(ctx context.Context, id string) error
	// CreateUpload starts a resumable upload of length bytes and returns its id.
	CreateUpload(ctx context.Context, length int64, name, mime string) (string, error)
	// Upload describes an upload: its offset and, once complete, its media id.
	Upload(ctx context.Context, id string) (Upload, error)
	// WriteUpload appends r at offset (which must be the upload's) and returns the new offset.
	WriteUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// CompleteUpload turns an upload whose every byte arrived into media.
	CompleteUpload(ctx context.Context, id string) (api.Attachment, error)
	// CancelUpload ends an upload and removes what it stored.
	CancelUpload(ctx context.Context, id string) error
}

// Upload is a resumable upload as Media describes it.
type Upload struct {
	ID     string
	Length int64
	Offset int64
	// MediaID is set once the upload is complete.
	MediaID string
}

// FilenameHeader carries the file name of POST /v1/media, percent-encoded UTF-8.
const FilenameHeader = "X-Filename"

// MediaIDHeader names the media of a completed tus upload (API.md §6).
const MediaIDHeader = "Petrel-Media-Id"

// mediaCSP is the Content-Security-Policy of media bytes: whatever was uploaded (HTML, SVG)
// runs nothing and loads nothing in the API's origin, even opened as a page of its own.
const mediaCSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"

// Replies is how the handlers answer, given by the local API, which owns the error codes
// (docs/API.md §2) and the JSON bodies.
type Replies struct {
	// Error answers with the JSON error for err (its code from the node/api sentinel it
	// wraps), logging one the client is not told about.
	Error func(w http.ResponseWriter, r *http.Request, err error)
	// Code answers status with the JSON error of err's code and message.
	Code func(w http.ResponseWriter, status int, err error)
	// JSON answers status with v as JSON.
	JSON func(w http.ResponseWriter, status int, v any)
	// Status is the HTTP status of err, and whether it is an internal error (which is
	// logged and never shown).
	Status func(err error) (status int, internal bool)
}

// Handlers serve the media routes of the local API (docs/API.md §6): POST /v1/media, the
// tus uploads under /v1/media/uploads, GET /v1/media/{id} and its info. The local API
// lists each in its one route table.
type Handlers struct {
	media Media // nil: the backend has no media part; every route answers 501
	out   Replies
	log   *slog.Logger
}

// New returns the media handlers over backend (the local API's backend: its media part if
// it implements Media), answering through out and logging to log (nil: discard).
func New(backend any, out Replies, log *slog.Logger) *Handlers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, _ := backend.(Media)
	return &Handlers{media: m, out: out, log: log}
}

func (h *Handlers) backend(w http.ResponseWriter, r *http.Request) (Media, bool) {
	if h.media == nil {
		h.refuse(w, r, http.StatusNotImplemented, api.Errorf(api.ErrNotImplemented, "media is not supported by this node"))
		return nil, false
	}
	return h.media, true
}

// refuse answers status with err before the request's body is read: the connection
// closes after the answer when the client sent one.
func (h *Handlers) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	h.out.Code(w, status, err)
}

func (h *Handlers) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		h.out.Error(w, r, err)
		return
	}
	h.out.JSON(w, status, v)
}

// IsMediaBody reports whether r is one of the two requests whose body is a file (POST
// /v1/media, a tus PATCH): they get the media size limit and a deadline that moves with
// the bytes (Limits.MediaBodyTimeout) instead of the JSON body limits.
func IsMediaBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost:
		return r.URL.Path == "/v1/media"
	case http.MethodPatch:
		return strings.HasPrefix(r.URL.Path, "/v1/media/uploads/")
	}
	return false
}

// PostMedia is POST /v1/media: the raw body, streamed into the store.
func (h *Handlers) PostMedia(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok {
		return
	}
	max := m.MediaMaxSize()
	if r.ContentLength > max {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, api.Errorf(api.ErrTooLarge, "file of %d bytes over this node's limit of %d", r.ContentLength, max))
		return
	}
	name, err := url.PathUnescape(r.Header.Get(FilenameHeader))
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "%s", FilenameHeader+" must be percent-encoded UTF-8"))
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if _, _, err := mime.ParseMediaType(ct); err != nil {
			h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "malformed Content-Type"))
			return
		}
	}
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, max)}
	a, err := m.PutMedia(r.Context(), body, name, ct)
	if err != nil {
		h.out.Error(w, r, body.blame(err))
		return
	}
	h.out.JSON(w, http.StatusCreated, a)
}

// GetMedia is GET /v1/media/{id}: the plaintext, Range supported (http.ServeContent).
func (h *Handlers) GetMedia(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	rd, a, err := m.OpenMedia(r.Context(), id)
	if err != nil {
		if a.MediaID != "" && a.State != api.MediaAvailable {
			h.mediaNotHere(w, r, m, a)
			return
		}
		h.out.Error(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.MIME)
	hdr.Set("Content-Security-Policy", mediaCSP)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Content-Disposition", contentDisposition(a))
	hdr.Set("ETag", `"`+a.SHA256+`"`)
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// mediaNotHere answers 409 conflict for media that is not here in full, after asking the
// node to fetch it.
func (h *Handlers) mediaNotHere(w http.ResponseWriter, r *http.Request, m Media, a api.Attachment) {
	if err := m.StartDownload(r.Context(), a.MediaID); err != nil {
		h.log.Warn("starting a media download failed", "media", a.MediaID, "err", err)
	}
	var got int64
	if a.Received != nil {
		got = *a.Received
	}
	h.out.Code(w, http.StatusConflict, api.Errorf(api.ErrConflict,
		"media %s is %s (%d of %d bytes here); its download has been started, completion arrives as a message_update event", a.MediaID, a.State, got, a.Size))
}

// GetMediaPart is GET /v1/media/{id}/{part}; the one part is info. (One pattern rather than
// .../info, which http.ServeMux finds in conflict with HEAD /v1/media/uploads/{id}.)
func (h *Handlers) GetMediaPart(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("part") != "info" {
		h.refuse(w, r, http.StatusNotFound, api.Errorf(api.ErrNotFound, "no such endpoint"))
		return
	}
	m, ok := h.backend(w, r)
	if !ok {
		return
	}
	a, err := m.MediaInfo(r.Context(), r.PathValue("id"))
	h.reply(w, r, http.StatusOK, a, err)
}

// inlineMIME are the types a browser may show in place: raster images (node/media made sure
// the bytes are what the type says), audio and video. Everything else is a download.
func inlineMIME(t string) bool {
	switch t {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return strings.HasPrefix(t, "audio/") || strings.HasPrefix(t, "video/")
}

// contentDisposition names the file (RFC 6266, filename* for UTF-8), inline only for
// inlineMIME types.
func contentDisposition(a api.Attachment) string {
	kind := "attachment"
	if inlineMIME(a.MIME) {
		kind = "inline"
	}
	name := a.Name
	if name == "" {
		name = "file"
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind + "; filename*=UTF-8''" + url.PathEscape(name)
}

// uploadLength parses a tus Upload-Length or Upload-Offset: a non-negative decimal.
func uploadLength(v string) (int64, bool) {
	if v == "" || len(v) > 19 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// bodyReader remembers how reading a request body failed, so that a body that broke off
// (the client went away, the body deadline passed) is told apart from the node failing.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// blame returns err as the API should answer it: too_large for a body over its limit,
// bad_request for one that broke off, else err.
func (b *bodyReader) blame(err error) error {
	var maxErr *http.MaxBytesError
	switch {
	case b.err == nil:
		return err
	case errors.As(b.err, &maxErr):
		return b.err
	}
	return api.Errorf(api.ErrBadRequest, "the request body broke off before its end")
}
