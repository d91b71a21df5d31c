package mediaapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/node/api"
)

// tus 1.0 (https://tus.io/protocols/resumable-upload): core, creation and termination, on
// node/media's upload sessions. Our own core rather than tusd's handler: tusd needs a data
// store of its own and keeps its own upload info, where node/media already holds upload
// sessions sealed in the node's store with their offsets durable chunk by chunk.
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,termination"
	offsetOctets  = "application/offset+octet-stream"
	// MaxUploadMetadata caps the Upload-Metadata header (the server's header cap is larger).
	MaxUploadMetadata = 4 << 10
)

// tusHeaders writes what every tus answer carries.
func tusHeaders(w http.ResponseWriter) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Cache-Control", "no-store")
}

// tusCheck refuses a request that does not speak tus 1.0.0 (412, with the versions we do).
func (h *Handlers) tusCheck(w http.ResponseWriter, r *http.Request) bool {
	tusHeaders(w)
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
		w.Header().Set("Tus-Version", tusVersion)
		h.refuse(w, r, http.StatusPreconditionFailed, api.Errorf(api.ErrBadRequest, "%s", "Tus-Resumable: 1.0.0 is required (got "+strconv.Quote(v)+")"))
		return false
	}
	return true
}

// OptionsUploads is OPTIONS /v1/media/uploads: what this tus server speaks.
func (h *Handlers) OptionsUploads(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok {
		return
	}
	tusHeaders(w)
	hdr := w.Header()
	hdr.Set("Tus-Version", tusVersion)
	hdr.Set("Tus-Extension", tusExtensions)
	hdr.Set("Tus-Max-Size", strconv.FormatInt(m.MediaMaxSize(), 10))
	w.WriteHeader(http.StatusNoContent)
}

// PostUpload is POST /v1/media/uploads (creation): Upload-Length and Upload-Metadata
// (filename, filetype) → 201 with Location.
func (h *Handlers) PostUpload(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok || !h.tusCheck(w, r) {
		return
	}
	if r.ContentLength != 0 {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "creation with upload is not supported: send the bytes with PATCH"))
		return
	}
	if r.Header.Get("Upload-Defer-Length") != "" {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "Upload-Defer-Length is not supported: give Upload-Length"))
		return
	}
	length, ok := uploadLength(r.Header.Get("Upload-Length"))
	if !ok {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "Upload-Length must be a non-negative integer"))
		return
	}
	if max := m.MediaMaxSize(); length > max {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, api.Errorf(api.ErrTooLarge, "upload of %d bytes over this node's limit of %d", length, max))
		return
	}
	md, err := ParseUploadMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "%s", err.Error()))
		return
	}
	name := md["filename"]
	if name == "" {
		name = md["name"] // tus-js-client's examples use "name"
	}
	typ := md["filetype"]
	if typ == "" {
		typ = md["type"]
	}
	id, err := m.CreateUpload(r.Context(), length, name, typ)
	if err != nil {
		h.out.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/media/uploads/"+id)
	w.Header().Set("Upload-Offset", "0")
	w.WriteHeader(http.StatusCreated)
}

// HeadUpload is HEAD /v1/media/uploads/{id}: the offset, and the media id once complete.
func (h *Handlers) HeadUpload(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok || !h.tusCheck(w, r) {
		return
	}
	up, err := m.Upload(r.Context(), r.PathValue("id"))
	if err != nil {
		// HEAD has no body: the status says it all.
		status, internal := h.out.Status(err)
		if internal {
			h.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		w.WriteHeader(status)
		return
	}
	if up.MediaID == "" && up.Offset == up.Length {
		// Every byte is here but the PATCH that brought the last ones did not complete it
		// (the node stopped in between): complete it now.
		a, err := m.CompleteUpload(r.Context(), up.ID)
		if err != nil {
			status, internal := h.out.Status(err)
			if internal {
				h.log.Error("completing an upload failed", "upload", up.ID, "err", err)
			}
			w.WriteHeader(status)
			return
		}
		up.MediaID = a.MediaID
	}
	hdr := w.Header()
	hdr.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	hdr.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
	if up.MediaID != "" {
		hdr.Set(MediaIDHeader, up.MediaID)
	}
	w.WriteHeader(http.StatusOK)
}

// PatchUpload is PATCH /v1/media/uploads/{id}: bytes at Upload-Offset, streamed into the
// upload; 204 with the new offset (and the media id when that completed it).
func (h *Handlers) PatchUpload(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok || !h.tusCheck(w, r) {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != offsetOctets {
		h.refuse(w, r, http.StatusUnsupportedMediaType, api.Errorf(api.ErrBadRequest, "%s", "Content-Type must be "+offsetOctets))
		return
	}
	offset, ok := uploadLength(r.Header.Get("Upload-Offset"))
	if !ok {
		h.refuse(w, r, http.StatusBadRequest, api.Errorf(api.ErrBadRequest, "Upload-Offset must be a non-negative integer"))
		return
	}
	id := r.PathValue("id")
	up, err := m.Upload(r.Context(), id)
	if err != nil {
		h.refuseErr(w, r, err)
		return
	}
	if up.MediaID != "" {
		h.refuse(w, r, http.StatusConflict, api.Errorf(api.ErrConflict, "the upload is complete (media %s): nothing more to send", up.MediaID))
		return
	}
	if offset != up.Offset {
		h.refuse(w, r, http.StatusConflict, api.Errorf(api.ErrConflict, "Upload-Offset %d, the upload is at %d of %d", offset, up.Offset, up.Length))
		return
	}
	if r.ContentLength > up.Length-up.Offset {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, api.Errorf(api.ErrTooLarge, "%d bytes at %d past the upload's length of %d", r.ContentLength, offset, up.Length))
		return
	}
	// The body may be no longer than what the upload still lacks (one byte more is read to
	// tell a body that goes on).
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, up.Length-up.Offset+1)}
	n, werr := m.WriteUpload(r.Context(), id, offset, body)
	w.Header().Set("Upload-Offset", strconv.FormatInt(n, 10))
	if werr != nil {
		werr = body.blame(werr)
		var maxErr *http.MaxBytesError
		if errors.As(werr, &maxErr) {
			werr = fmt.Errorf("%w: body past the upload's length of %d", api.ErrTooLarge, up.Length)
		}
		h.out.Error(w, r, werr)
		return
	}
	if n == up.Length {
		a, err := m.CompleteUpload(r.Context(), id)
		if err != nil {
			h.out.Error(w, r, err)
			return
		}
		w.Header().Set(MediaIDHeader, a.MediaID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// DeleteUpload is DELETE /v1/media/uploads/{id} (termination).
func (h *Handlers) DeleteUpload(w http.ResponseWriter, r *http.Request) {
	m, ok := h.backend(w, r)
	if !ok || !h.tusCheck(w, r) {
		return
	}
	if err := m.CancelUpload(r.Context(), r.PathValue("id")); err != nil {
		h.out.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuseErr is writeError for an answer given before the body is read.
func (h *Handlers) refuseErr(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	h.out.Error(w, r, err)
}

// ParseUploadMetadata reads tus's Upload-Metadata: comma-separated pairs of a key and, after
// a space, its value in standard base64 (a key may stand alone, with an empty value). Keys
// are non-empty, without spaces or commas, and unique; values must be UTF-8.
func ParseUploadMetadata(h string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(h) == "" {
		return out, nil
	}
	if len(h) > MaxUploadMetadata {
		return nil, fmt.Errorf("tus: Upload-Metadata over %d bytes", MaxUploadMetadata)
	}
	for _, pair := range strings.Split(h, ",") {
		pair = strings.TrimSpace(pair)
		key, val, _ := strings.Cut(pair, " ")
		if key == "" {
			return nil, errors.New("tus: Upload-Metadata: empty key")
		}
		if strings.ContainsAny(key, " \t") || !utf8.ValidString(key) {
			return nil, fmt.Errorf("tus: Upload-Metadata: bad key %q", key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("tus: Upload-Metadata: key %q twice", key)
		}
		val = strings.TrimSpace(val)
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, fmt.Errorf("tus: Upload-Metadata: the value of %q is not base64", key)
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("tus: Upload-Metadata: the value of %q is not UTF-8", key)
		}
		out[key] = string(b)
	}
	return out, nil
}
