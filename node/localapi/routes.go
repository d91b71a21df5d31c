package localapi

import "net/http"

type route struct {
	pattern string // "METHOD /path", as http.ServeMux reads it
	handler http.HandlerFunc
}

// routes is the one route table of the API, kept sorted by path then method (a test checks).
// Every path is under /v1/.
func (s *Server) routes() []route {
	return []route{
		{"GET /v1/events", s.getEvents},
		{"GET /v1/me", s.getMe},
		{"PATCH /v1/me", s.patchMe},
		{"DELETE /v1/session", s.deleteSession},
		{"POST /v1/session", s.postSession},
		{"GET /v1/status", s.getStatus},
		{"GET /v1/ws", s.serveWS},
	}
}
