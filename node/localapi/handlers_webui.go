package localapi

import "net/http"

// latestEvent is GET /v1/events/latest (extension): {"seq":N}, the newest event's seq (0 for
// an empty log). A UI that loads its state over REST reads it first and then says hello with
// it as since, so the events that race with the load are replayed rather than lost.
type latestEvent struct {
	Seq uint64 `json:"seq"`
}

func (s *Server) getLatestEvent(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, latestEvent{Seq: s.cfg.Backend.Events().Last()})
}
