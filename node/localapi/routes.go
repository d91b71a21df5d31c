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
		{"GET /v1/contacts", s.getContacts},
		{"POST /v1/contacts", s.postContact},
		{"GET /v1/contacts/{id}", s.getContact},
		{"PATCH /v1/contacts/{id}", s.patchContact},
		{"GET /v1/contacts/{id}/safety_qr", s.getSafetyQR},
		{"GET /v1/conversations", s.getConversations},
		{"POST /v1/conversations", s.postConversation},
		{"GET /v1/conversations/{id}", s.getConversation},
		{"PATCH /v1/conversations/{id}", s.patchConversation},
		{"GET /v1/conversations/{id}/changes", s.getGroupChanges},
		{"POST /v1/conversations/{id}/leave", s.postLeave},
		{"POST /v1/conversations/{id}/members", s.postMembers},
		{"GET /v1/conversations/{id}/messages", s.getMessages},
		{"POST /v1/conversations/{id}/messages", s.postMessage},
		{"POST /v1/conversations/{id}/read", s.postRead},
		{"GET /v1/devices", optional(s, "this node does not link devices", getDevices)},
		{"POST /v1/devices/link", optional(s, "this node does not link devices", postDeviceLink)},
		{"DELETE /v1/devices/{id}", optional(s, "this node does not link devices", deleteDevice)},
		{"GET /v1/events", s.getEvents},
		{"GET /v1/events/latest", s.getLatestEvent},
		{"GET /v1/invites", optional(s, noInvites, getInvites)},
		{"POST /v1/invites", s.postInvite},
		{"DELETE /v1/invites/{id}", optional(s, noInvites, deleteInvite)},
		{"GET /v1/me", s.getMe},
		{"PATCH /v1/me", s.patchMe},
		{"POST /v1/media", s.media.PostMedia},
		{"OPTIONS /v1/media/uploads", s.media.OptionsUploads},
		{"POST /v1/media/uploads", s.media.PostUpload},
		{"DELETE /v1/media/uploads/{id}", s.media.DeleteUpload},
		{"HEAD /v1/media/uploads/{id}", s.media.HeadUpload},
		{"PATCH /v1/media/uploads/{id}", s.media.PatchUpload},
		{"GET /v1/media/{id}", s.media.GetMedia},
		{"GET /v1/media/{id}/{part}", s.media.GetMediaPart},
		{"DELETE /v1/messages/{id}", s.deleteMessage},
		{"GET /v1/messages/{id}", s.getMessage},
		{"PATCH /v1/messages/{id}", s.patchMessage},
		{"POST /v1/messages/{id}/reactions", s.postReaction},
		{"GET /v1/messages/{id}/receipts", s.getMessageReceipts},
		{"GET /v1/push/registrations", optional(s, noPush, getPushRegistrations)},
		{"POST /v1/push/registrations", s.postPushRegistration},
		{"DELETE /v1/push/registrations/{id}", optional(s, noPush, deletePushRegistration)},
		{"GET /v1/search", s.getSearch},
		{"DELETE /v1/session", s.deleteSession},
		{"POST /v1/session", s.postSession},
		{"GET /v1/settings", s.getSettings},
		{"PUT /v1/settings", s.putSettings},
		{"GET /v1/status", s.getStatus},
		{"POST /v1/token/rotate", s.postTokenRotate},
		{"GET /v1/ws", s.serveWS},
	}
}
