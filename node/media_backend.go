package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localapi/mediaapi"
	"github.com/petrel-chat/petrel/node/media"
)

// The local API's media part (docs/API.md §6): apiBackend's mediaapi.Media methods, on the
// node's media store (n.media). The one place where node/media's errors become API errors.

var _ mediaapi.Media = apiBackend{}

func (b apiBackend) MediaMaxSize() int64 { return b.n.media.MaxSize() }

func (b apiBackend) PutMedia(ctx context.Context, r io.Reader, name, mime string) (api.Attachment, error) {
	a, err := b.n.media.Put(ctx, r, name, mime)
	if err != nil {
		return api.Attachment{}, b.mediaErr(err)
	}
	return a.API(), nil
}

func (b apiBackend) MediaInfo(ctx context.Context, id string) (api.Attachment, error) {
	a, err := b.n.media.Info(id)
	if err != nil {
		return api.Attachment{}, b.mediaErr(err)
	}
	return a.API(), nil
}

// OpenMedia returns a reader over an available media id; for one not here in full, its
// Attachment (state, received) with a conflict error.
func (b apiBackend) OpenMedia(ctx context.Context, id string) (io.ReadSeeker, api.Attachment, error) {
	a, err := b.n.media.Info(id)
	if err != nil {
		return nil, api.Attachment{}, b.mediaErr(err)
	}
	if a.State != media.Available {
		return nil, a.API(), b.mediaErr(fmt.Errorf("%w: %s", media.ErrNotAvailable, a.State))
	}
	rd, err := b.n.media.Open(id)
	if err != nil {
		if errors.Is(err, media.ErrNotAvailable) {
			return nil, a.API(), b.mediaErr(err)
		}
		return nil, api.Attachment{}, b.mediaErr(err)
	}
	return rd, a.API(), nil
}

func (b apiBackend) StartDownload(ctx context.Context, id string) error {
	return b.n.fetchMedia(ctx, id)
}

func (b apiBackend) CreateUpload(ctx context.Context, length int64, name, mime string) (string, error) {
	id, err := b.n.media.Create(ctx, length, name, mime)
	return id, b.mediaErr(err)
}

func (b apiBackend) Upload(ctx context.Context, id string) (mediaapi.Upload, error) {
	up, err := b.n.media.Offset(id)
	if err != nil {
		return mediaapi.Upload{}, b.mediaErr(err)
	}
	return mediaapi.Upload{ID: up.ID, Length: up.Length, Offset: up.Offset, MediaID: up.MediaID}, nil
}

func (b apiBackend) WriteUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	n, err := b.n.media.Write(ctx, id, offset, r)
	return n, b.mediaErr(err)
}

func (b apiBackend) CompleteUpload(ctx context.Context, id string) (api.Attachment, error) {
	a, err := b.n.media.Complete(ctx, id)
	if err != nil {
		return api.Attachment{}, b.mediaErr(err)
	}
	return a.API(), nil
}

func (b apiBackend) CancelUpload(ctx context.Context, id string) error {
	return b.mediaErr(b.n.media.Cancel(ctx, id))
}

// fetchMedia starts the download of a received media id that is not here yet. The
// messenger owns downloads (it knows the message, its sender and relays).
func (n *Node) fetchMedia(ctx context.Context, id string) error {
	return n.msg.FetchMedia(ctx, id)
}

// mediaErr maps node/media's errors to the API's (docs/API.md §6, "Errors"). A request
// body over its limit (*http.MaxBytesError) passes as it is: the API answers too_large.
func (b apiBackend) mediaErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, media.ErrTooLarge):
		return api.Errorf(api.ErrTooLarge, "file over this node's limit of %d bytes", b.n.media.MaxSize())
	case errors.Is(err, media.ErrNotFound):
		return api.Errorf(api.ErrNotFound, "no such media or upload")
	case errors.Is(err, media.ErrNotAvailable):
		return api.Errorf(api.ErrConflict, "the media is not here yet")
	case errors.Is(err, media.ErrOffsetMismatch):
		return api.Errorf(api.ErrConflict, "the offset is not the upload's")
	case errors.Is(err, media.ErrBusy):
		return api.Errorf(api.ErrConflict, "another request is writing this upload")
	case errors.Is(err, media.ErrBeyondLength):
		return api.Errorf(api.ErrTooLarge, "more bytes than the upload's length")
	case errors.Is(err, media.ErrIncomplete):
		return api.Errorf(api.ErrBadRequest, "the upload is not complete")
	case errors.Is(err, media.ErrBadManifest):
		return api.Errorf(api.ErrBadRequest, "malformed media manifest")
	}
	return err
}
