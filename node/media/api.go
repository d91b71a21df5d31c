package media

import "github.com/petrel-chat/petrel/node/api"

// API is the attachment as the local API shows it (docs/API.md §6): the one mapping from
// a media Attachment to api.Attachment. No thumbnail is null; received is present only
// while the file is not available.
func (a Attachment) API() api.Attachment {
	out := api.Attachment{
		MediaID: a.MediaID, Name: a.Name, MIME: a.MIME, Size: a.Size, SHA256: a.SHA256,
		Width: a.Width, Height: a.Height, DurationMS: a.DurationMS, State: string(a.State),
	}
	if a.ThumbnailMediaID != "" {
		t := a.ThumbnailMediaID
		out.ThumbnailMediaID = &t
	}
	if a.State != Available {
		n := a.Received
		out.Received = &n
	}
	if a.State == Failed {
		out.Error = a.Reason
	}
	return out
}
