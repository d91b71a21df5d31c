package localclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
)

// media calls have no overall timeout (a file may take long): only ctx bounds them.
func (c *Client) mediaClient() *http.Client {
	return &http.Client{Transport: c.hc.Transport}
}

func (c *Client) mediaRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

// apiError reads an error answer.
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(b, &eb)
	return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
}

// UploadMedia is POST /v1/media: r's bytes as one file named name, of type mime. size, when
// not negative, is sent as Content-Length (a node refuses a file over its limit at once).
func (c *Client) UploadMedia(ctx context.Context, r io.Reader, size int64, name, mime string) (api.Attachment, error) {
	var a api.Attachment
	req, err := c.mediaRequest(ctx, http.MethodPost, "/v1/media", r)
	if err != nil {
		return a, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	if mime != "" {
		req.Header.Set("Content-Type", mime)
	}
	req.Header.Set("X-Filename", url.PathEscape(name))
	resp, err := c.mediaClient().Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return a, apiError(resp)
	}
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

// MediaInfo is GET /v1/media/{id}/info.
func (c *Client) MediaInfo(ctx context.Context, id string) (api.Attachment, error) {
	var a api.Attachment
	return a, c.Do(ctx, http.MethodGet, "/v1/media/"+url.PathEscape(id)+"/info", nil, &a)
}

// GetMedia is GET /v1/media/{id}; rng, when not empty, is a Range header value ("bytes=0-99").
// The caller closes the answer's body; a non-2xx answer is *APIError.
func (c *Client) GetMedia(ctx context.Context, id, rng string) (*http.Response, error) {
	req, err := c.mediaRequest(ctx, http.MethodGet, "/v1/media/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.mediaClient().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

// TusUpload is a resumable upload (tus 1.0 at /v1/media/uploads).
type TusUpload struct {
	c *Client
	// Location is the upload's path (/v1/media/uploads/ID): keep it to resume.
	Location string
	Length   int64
}

// CreateUpload is the tus creation POST: an upload of length bytes named name, of type mime.
func (c *Client) CreateUpload(ctx context.Context, length int64, name, mime string) (*TusUpload, error) {
	req, err := c.mediaRequest(ctx, http.MethodPost, "/v1/media/uploads", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+
		",filetype "+base64.StdEncoding.EncodeToString([]byte(mime)))
	resp, err := c.mediaClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, apiError(resp)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v1/media/uploads/") {
		return nil, fmt.Errorf("localclient: tus creation answered Location %q", loc)
	}
	return &TusUpload{c: c, Location: loc, Length: length}, nil
}

// ResumeUpload names an upload created earlier (its Location).
func (c *Client) ResumeUpload(location string, length int64) *TusUpload {
	return &TusUpload{c: c, Location: location, Length: length}
}

// Offset is the tus HEAD: the upload's offset and, once complete, its media id.
func (u *TusUpload) Offset(ctx context.Context) (offset int64, mediaID string, err error) {
	req, err := u.c.mediaRequest(ctx, http.MethodHead, u.Location, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := u.c.mediaClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", &APIError{Status: resp.StatusCode, Code: "", Message: "tus HEAD " + resp.Status}
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("localclient: tus HEAD: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return off, resp.Header.Get("Petrel-Media-Id"), nil
}

// Patch is one tus PATCH: n bytes of r at offset. It returns the new offset and, when
// these bytes completed the upload, the media id.
func (u *TusUpload) Patch(ctx context.Context, offset int64, r io.Reader, n int64) (int64, string, error) {
	req, err := u.c.mediaRequest(ctx, http.MethodPatch, u.Location, io.LimitReader(r, n))
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = n
	if n == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := u.c.mediaClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, "", apiError(resp)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("localclient: tus PATCH: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return off, resp.Header.Get("Petrel-Media-Id"), nil
}

// Upload sends what the node lacks of src (asking for the offset first, so a call after an
// interruption resumes), in PATCHes of at most chunk bytes, and returns the media id.
func (u *TusUpload) Upload(ctx context.Context, src io.ReaderAt, chunk int64) (string, error) {
	off, id, err := u.Offset(ctx)
	if err != nil {
		return "", err
	}
	for id == "" {
		n := min(chunk, u.Length-off)
		var next int64
		next, id, err = u.Patch(ctx, off, io.NewSectionReader(src, off, n), n)
		if err != nil {
			return "", err
		}
		if next <= off && n > 0 {
			return "", errors.New("localclient: tus PATCH made no progress")
		}
		off = next
	}
	return id, nil
}

// TusUpload uploads all of src (length bytes) by tus in PATCHes of at most chunk bytes and
// returns the media's Attachment.
func (c *Client) TusUpload(ctx context.Context, src io.ReaderAt, length int64, name, mime string, chunk int64) (api.Attachment, error) {
	u, err := c.CreateUpload(ctx, length, name, mime)
	if err != nil {
		return api.Attachment{}, err
	}
	id, err := u.Upload(ctx, src, chunk)
	if err != nil {
		return api.Attachment{}, err
	}
	return c.MediaInfo(ctx, id)
}
