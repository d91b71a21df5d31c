package localapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
)

// Devices is the node's linked-devices part (docs/API.md §8). Without it the device routes
// answer 501.
type Devices interface {
	// LinkDevice issues a single-use link for a new device (on the account's primary).
	LinkDevice(ctx context.Context) (api.DeviceLink, error)
	// Devices lists the account's active devices, this one marked current.
	Devices(ctx context.Context) ([]api.Device, error)
	// RevokeDevice revokes device id: bad_request for the current device, not_found for an
	// unknown one, forbidden on a device that is not the primary.
	RevokeDevice(ctx context.Context, id string) error
}

func (s *Server) devicesBackend(w http.ResponseWriter) (Devices, bool) {
	b, ok := s.cfg.Backend.(Devices)
	if !ok {
		writeErrorCode(w, http.StatusNotImplemented, codeNotImplemented, "this node does not link devices")
	}
	return b, ok
}

// postDeviceLink answers POST /v1/devices/link. It needs no body; one, when sent, must be
// JSON (its fields are ignored).
func (s *Server) postDeviceLink(w http.ResponseWriter, r *http.Request) {
	b, ok := s.devicesBackend(w)
	if !ok {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "cannot read the request body"))
		return
	}
	if body := bytes.TrimSpace(raw); len(body) > 0 {
		var ignored map[string]any
		if err := decodeJSON(body, &ignored); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	l, err := b.LinkDevice(r.Context())
	s.reply(w, r, http.StatusOK, l, err)
}

func (s *Server) getDevices(w http.ResponseWriter, r *http.Request) {
	b, ok := s.devicesBackend(w)
	if !ok {
		return
	}
	ds, err := b.Devices(r.Context())
	if ds == nil {
		ds = []api.Device{}
	}
	s.reply(w, r, http.StatusOK, api.DeviceList{Devices: ds}, err)
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	b, ok := s.devicesBackend(w)
	if !ok {
		return
	}
	if err := b.RevokeDevice(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
