package localapi

import (
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
)

// getSafetyQR is GET /v1/contacts/{id}/safety_qr (extension): the contact's safety number as
// a QR code, {"safety_number","qr_svg"}, for the contact screen's "compare" view.
func (s *Server) getSafetyQR(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Backend.Contact(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.SafetyNumber == "" {
		s.writeError(w, r, api.Errorf(api.ErrConflict, "this contact has no safety number yet"))
		return
	}
	svg, err := invite.QRSVG(c.SafetyNumber)
	s.reply(w, r, http.StatusOK, api.SafetyQR{SafetyNumber: c.SafetyNumber, QRSVG: svg}, err)
}
