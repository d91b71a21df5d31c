package mediaapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localapi/mediaapi"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/store"
)

// mediaLimit is the test node's media size limit: small, so 413 is cheap to reach.
const mediaLimit = 3 << 20

// pattern4K is a known 4 KiB block that every test file repeats: found anywhere in the data
// directory, it would be plaintext at rest.
var pattern4K = func() []byte {
	b := make([]byte, 4096)
	r := rand.New(rand.NewPCG(4, 4096))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// testFile is size bytes of pattern4K, each block numbered so no two are the same.
func testFile(size int) []byte {
	var buf bytes.Buffer
	for i := 0; buf.Len() < size; i++ {
		buf.Write(pattern4K)
		fmt.Fprintf(&buf, "%08d", i)
	}
	return buf.Bytes()[:size]
}

// req sends one request with full control over headers and returns the answer (body read).
func req(t *testing.T, n *nodetest.Node, method, path string, hdr map[string]string, body io.Reader, size int64) (*http.Response, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, n.Info.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.ContentLength = size
	}
	r.Header.Set("Authorization", "Bearer "+n.Info.Token)
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func errCode(b []byte) string {
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(b, &eb)
	return eb.Error.Code
}

// chunkFiles counts the chunk ciphertexts the node holds.
func chunkFiles(t *testing.T, n *nodetest.Node) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(n.Dir, "media", "chunks"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	c := 0
	for _, e := range es {
		if !strings.HasPrefix(e.Name(), ".") && !strings.Contains(e.Name(), "tmp") {
			c++
		}
	}
	return c
}

// TestMediaAPI runs API.md §6 against one real node over real HTTP.
func TestMediaAPI(t *testing.T) {
	n := nodetest.StartWith(t, "media", func(c *node.Config) { c.Media.MaxSize = mediaLimit })
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *nodetest.Node)
	}{
		{"RawUploadRoundTrip", testRawUploadRoundTrip},
		{"Range", testMediaRange},
		{"TusThreePatches", testTusThreePatches},
		{"TooLarge", testMediaTooLarge},
		{"MalformedTus", testMalformedTus},
		{"Unauthorized", testMediaUnauthorized},
		{"HTMLIsNotAPage", testHTMLIsNotAPage},
		{"WrongImageClaim", testWrongImageClaim},
		{"ImageThumbnail", testImageThumbnail},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, n) })
	}
	// Everything above stored the pattern; none of it is plaintext on disk.
	nodetest.NoPlaintext(t, n.Dir, string(pattern4K))
}

func testRawUploadRoundTrip(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	data := testFile(2*media.ChunkSize + 12345)
	const name = "résumé 📄 \"q\".bin"
	a, err := n.Client.UploadMedia(ctx, bytes.NewReader(data), int64(len(data)), name, "application/x-test")
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	sum := sha256.Sum256(data)
	if a.MediaID == "" || a.Name != name || a.MIME != "application/x-test" || a.Size != int64(len(data)) ||
		a.SHA256 != hex.EncodeToString(sum[:]) || a.ThumbnailMediaID != nil || a.State != api.MediaAvailable || a.Received != nil {
		t.Fatalf("attachment %+v", a)
	}
	// The JSON is §6's: thumbnail_media_id null, no width/height/duration/received.
	resp, b := req(t, n, "GET", "/v1/media/"+a.MediaID+"/info", nil, nil, 0)
	var m map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
		t.Fatalf("info: %d %s", resp.StatusCode, b)
	}
	if string(m["thumbnail_media_id"]) != "null" || string(m["state"]) != `"available"` {
		t.Errorf("info JSON %s", b)
	}
	for _, k := range []string{"width", "height", "duration_ms", "received"} {
		if _, ok := m[k]; ok {
			t.Errorf("info JSON has %q: %s", k, b)
		}
	}
	got, err := n.Client.GetMedia(ctx, a.MediaID, "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d bytes (want %d), identical %v, %v", len(body), len(data), bytes.Equal(body, data), err)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-test" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := got.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=utf-8''r%C3%A9sum%C3%A9") {
		t.Errorf("Content-Disposition %q", cd)
	}
	// The same bytes by tus: another media id on the same content, same digest.
	ta, err := n.Client.TusUpload(ctx, bytes.NewReader(data), int64(len(data)), "again.bin", "application/x-test", 1<<20)
	if err != nil || ta.MediaID == a.MediaID || ta.SHA256 != a.SHA256 || ta.Name != "again.bin" {
		t.Fatalf("tus upload of the same bytes: %+v %v", ta, err)
	}
	// Percent-encoding that is not valid is refused.
	resp, b = req(t, n, "POST", "/v1/media", map[string]string{"X-Filename": "bad%zz"}, strings.NewReader("x"), 1)
	if resp.StatusCode != 400 || errCode(b) != "bad_request" {
		t.Errorf("bad X-Filename: %d %s", resp.StatusCode, b)
	}
	// Unknown ids.
	for _, p := range []string{"/v1/media/md_nope", "/v1/media/md_nope/info"} {
		if resp, b := req(t, n, "GET", p, nil, nil, 0); resp.StatusCode != 404 || errCode(b) != "not_found" {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, b)
		}
	}
	// An empty file is a file.
	e, err := n.Client.UploadMedia(ctx, bytes.NewReader(nil), 0, "empty", "text/plain")
	if err != nil || e.Size != 0 {
		t.Fatalf("empty upload: %+v %v", e, err)
	}
	if resp, b := req(t, n, "GET", "/v1/media/"+e.MediaID, nil, nil, 0); resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("GET empty: %d %q", resp.StatusCode, b)
	}
}

func testMediaRange(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	data := testFile(media.ChunkSize + 5000)
	size := len(data)
	a, err := n.Client.UploadMedia(ctx, bytes.NewReader(data), int64(size), "r.bin", "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	cs := media.ChunkSize
	for _, c := range []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-99", 0, 99},
		{fmt.Sprintf("bytes=%d-%d", cs-10, cs+10), cs - 10, cs + 10}, // across the chunk boundary
		{"bytes=-500", size - 500, size - 1},                         // suffix
		{fmt.Sprintf("bytes=-%d", size+10), 0, size - 1},             // suffix longer than the file
		{fmt.Sprintf("bytes=%d-", size-3), size - 3, size - 1},       // open end
		{fmt.Sprintf("bytes=%d-%d", size-1, size+1000), size - 1, size - 1},
	} {
		resp, err := n.Client.GetMedia(ctx, a.MediaID, c.rng)
		if err != nil {
			t.Errorf("%s: %v", c.rng, err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)
		if err != nil || resp.StatusCode != 206 || resp.Header.Get("Content-Range") != want || !bytes.Equal(b, data[c.start:c.end+1]) {
			t.Errorf("%s: %d %q (want %q), %d bytes, equal %v, %v", c.rng, resp.StatusCode, resp.Header.Get("Content-Range"), want, len(b), bytes.Equal(b, data[c.start:c.end+1]), err)
		}
	}
	// Two ranges: multipart/byteranges.
	resp, b := req(t, n, "GET", "/v1/media/"+a.MediaID, map[string]string{"Range": "bytes=0-9,-10"}, nil, 0)
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") ||
		!bytes.Contains(b, data[:10]) || !bytes.Contains(b, data[size-10:]) {
		t.Errorf("two ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// A range past the end: 416.
	resp, _ = req(t, n, "GET", "/v1/media/"+a.MediaID, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)}, nil, 0)
	if resp.StatusCode != 416 {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	// If-Range with the ETag a first answer gave: the range is served.
	resp, _ = req(t, n, "GET", "/v1/media/"+a.MediaID, map[string]string{"Range": "bytes=0-0", "If-Range": `"` + a.SHA256 + `"`}, nil, 0)
	if resp.StatusCode != 206 {
		t.Errorf("If-Range with the ETag: %d", resp.StatusCode)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline;") {
		t.Errorf("video Content-Disposition %q, want inline", cd)
	}
}

func tusHdr(kv ...string) map[string]string {
	h := map[string]string{"Tus-Resumable": "1.0.0"}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func testTusThreePatches(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	data := testFile(media.ChunkSize + 777_000)
	resp, _ := req(t, n, "OPTIONS", "/v1/media/uploads", nil, nil, 0)
	if resp.StatusCode != 204 || resp.Header.Get("Tus-Version") != "1.0.0" || resp.Header.Get("Tus-Resumable") != "1.0.0" ||
		!strings.Contains(resp.Header.Get("Tus-Extension"), "creation") || resp.Header.Get("Tus-Max-Size") != fmt.Sprint(mediaLimit) {
		t.Fatalf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	u, err := n.Client.CreateUpload(ctx, int64(len(data)), "três.bin", "application/x-three")
	if err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 400_000, media.ChunkSize + 100, len(data)}
	for i := 0; i < 3; i++ {
		off, id, err := u.Offset(ctx)
		if err != nil || off != int64(cuts[i]) || id != "" {
			t.Fatalf("HEAD before PATCH %d: offset %d (want %d), media %q, %v", i, off, cuts[i], id, err)
		}
		resp, _ := req(t, n, "HEAD", u.Location, tusHdr(), nil, 0)
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Upload-Length") != fmt.Sprint(len(data)) || resp.Header.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("HEAD headers %v", resp.Header)
		}
		next, id, err := u.Patch(ctx, off, bytes.NewReader(data[cuts[i]:cuts[i+1]]), int64(cuts[i+1]-cuts[i]))
		if err != nil || next != int64(cuts[i+1]) {
			t.Fatalf("PATCH %d: offset %d, %v", i, next, err)
		}
		if (id != "") != (i == 2) {
			t.Fatalf("PATCH %d: Petrel-Media-Id %q", i, id)
		}
	}
	off, id, err := u.Offset(ctx)
	if err != nil || off != int64(len(data)) || id == "" {
		t.Fatalf("HEAD after the last PATCH: %d %q %v", off, id, err)
	}
	a, err := n.Client.MediaInfo(ctx, id)
	sum := sha256.Sum256(data)
	if err != nil || a.Name != "três.bin" || a.MIME != "application/x-three" || a.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("info %+v %v", a, err)
	}
	got, err := n.Client.GetMedia(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, data) {
		t.Fatalf("GET after tus: %d bytes, not identical", len(b))
	}
	// A PATCH after completion is an offset conflict; DELETE ends the session, the media stays.
	if resp, b := req(t, n, "PATCH", u.Location, tusHdr("Content-Type", "application/offset+octet-stream", "Upload-Offset", fmt.Sprint(len(data))), strings.NewReader("x"), 1); resp.StatusCode != 409 {
		t.Errorf("PATCH after completion: %d %s", resp.StatusCode, b)
	}
	if resp, b := req(t, n, "DELETE", u.Location, tusHdr(), nil, 0); resp.StatusCode != 204 {
		t.Errorf("DELETE: %d %s", resp.StatusCode, b)
	}
	if resp, _ := req(t, n, "HEAD", u.Location, tusHdr(), nil, 0); resp.StatusCode != 404 || resp.Header.Get("Tus-Resumable") != "1.0.0" {
		t.Errorf("HEAD after DELETE: %d", resp.StatusCode)
	}
	if _, err := n.Client.MediaInfo(ctx, id); err != nil {
		t.Errorf("media after DELETE of its session: %v", err)
	}
	// The resuming client sends only what is missing.
	u2, err := n.Client.CreateUpload(ctx, int64(len(data)), "again", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := u2.Patch(ctx, 0, bytes.NewReader(data), 1000); err != nil {
		t.Fatal(err)
	}
	id2, err := u2.Upload(ctx, bytes.NewReader(data), 1<<20)
	if err != nil || id2 == "" {
		t.Fatalf("resumed upload: %q %v", id2, err)
	}
}

func testMediaTooLarge(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	before := chunkFiles(t, n)
	over := testFile(mediaLimit + 1)
	// Content-Length over the limit: refused before a byte is read.
	_, err := n.Client.UploadMedia(ctx, bytes.NewReader(over), int64(len(over)), "big", "")
	var ae *localclient.APIError
	if !errors.As(err, &ae) || ae.Status != 413 || ae.Code != "too_large" {
		t.Errorf("POST with Content-Length over the limit: %v", err)
	}
	// No length (chunked): refused once the stream passes the limit.
	_, err = n.Client.UploadMedia(ctx, io.MultiReader(bytes.NewReader(over)), -1, "big", "")
	if !errors.As(err, &ae) || ae.Status != 413 || ae.Code != "too_large" {
		t.Errorf("chunked POST over the limit: %v", err)
	}
	// Exactly the limit is fine (streamed, chunked).
	exact := testFile(mediaLimit)
	a, err := n.Client.UploadMedia(ctx, io.MultiReader(bytes.NewReader(exact)), -1, "exact", "")
	if err != nil || a.Size != mediaLimit {
		t.Errorf("chunked POST of exactly the limit: %+v %v", a, err)
	}
	// tus: an Upload-Length over the limit.
	resp, b := req(t, n, "POST", "/v1/media/uploads", tusHdr("Upload-Length", fmt.Sprint(mediaLimit+1)), nil, 0)
	if resp.StatusCode != 413 || errCode(b) != "too_large" || resp.Header.Get("Tus-Resumable") != "1.0.0" {
		t.Errorf("tus creation over the limit: %d %s", resp.StatusCode, b)
	}
	// Nothing of the refused files was kept (the exact one is a few chunks of its own).
	if got, want := chunkFiles(t, n), before+(mediaLimit+media.ChunkSize-1)/media.ChunkSize; got != want {
		t.Errorf("chunk files: %d, want %d (before %d + the exact upload's)", got, want, before)
	}
}

func testMalformedTus(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no Tus-Resumable", map[string]string{"Upload-Length": "10"}, 412},
		{"wrong Tus-Resumable", map[string]string{"Tus-Resumable": "0.2.2", "Upload-Length": "10"}, 412},
		{"no Upload-Length", tusHdr(), 400},
		{"negative Upload-Length", tusHdr("Upload-Length", "-1"), 400},
		{"non-numeric Upload-Length", tusHdr("Upload-Length", "1e3"), 400},
		{"huge Upload-Length", tusHdr("Upload-Length", "99999999999999999999999"), 400},
		{"bad base64 metadata", tusHdr("Upload-Length", "10", "Upload-Metadata", "filename !!!notbase64"), 400},
		{"duplicate metadata key", tusHdr("Upload-Length", "10", "Upload-Metadata", "filename YQ==,filename Yg=="), 400},
		{"empty metadata key", tusHdr("Upload-Length", "10", "Upload-Metadata", "filename YQ==,,a"), 400},
		{"deferred length", tusHdr("Upload-Defer-Length", "1"), 400},
	} {
		resp, b := req(t, n, "POST", "/v1/media/uploads", c.hdr, nil, 0)
		if resp.StatusCode != c.status || resp.Header.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.status)
		}
	}
	u, err := n.Client.CreateUpload(ctx, 100, "m", "")
	if err != nil {
		t.Fatal(err)
	}
	oct := "application/offset+octet-stream"
	for _, c := range []struct {
		name   string
		path   string
		hdr    map[string]string
		body   string
		status int
	}{
		{"offset mismatch", u.Location, tusHdr("Content-Type", oct, "Upload-Offset", "5"), "abc", 409},
		{"no offset", u.Location, tusHdr("Content-Type", oct), "abc", 400},
		{"negative offset", u.Location, tusHdr("Content-Type", oct, "Upload-Offset", "-1"), "abc", 400},
		{"wrong content type", u.Location, tusHdr("Content-Type", "application/octet-stream", "Upload-Offset", "0"), "abc", 415},
		{"no Tus-Resumable", u.Location, map[string]string{"Content-Type": oct, "Upload-Offset": "0"}, "abc", 412},
		{"past the length", u.Location, tusHdr("Content-Type", oct, "Upload-Offset", "0"), strings.Repeat("x", 101), 413},
		{"unknown upload", "/v1/media/uploads/up_nope", tusHdr("Content-Type", oct, "Upload-Offset", "0"), "abc", 404},
	} {
		resp, b := req(t, n, "PATCH", c.path, c.hdr, strings.NewReader(c.body), int64(len(c.body)))
		if resp.StatusCode != c.status || resp.Header.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("PATCH %s: %d %s, want %d", c.name, resp.StatusCode, b, c.status)
		}
	}
	// Past the length without a Content-Length (chunked): 413; the upload keeps the bytes
	// within its length (here all 100), so it is complete.
	resp, b := req(t, n, "PATCH", u.Location, tusHdr("Content-Type", oct, "Upload-Offset", "0"), io.MultiReader(strings.NewReader(strings.Repeat("y", 150))), -1)
	if resp.StatusCode != 413 {
		t.Errorf("chunked PATCH past the length: %d %s", resp.StatusCode, b)
	}
	// (A HEAD of an upload with every byte but not completed completes it.)
	if off, id, err := u.Offset(ctx); err != nil || off != 100 || id == "" {
		t.Errorf("after a PATCH past the length: offset %d, media %q, %v", off, id, err)
	}
	if resp, _ := req(t, n, "HEAD", "/v1/media/uploads/up_nope", tusHdr(), nil, 0); resp.StatusCode != 404 {
		t.Errorf("HEAD of an unknown upload: %d", resp.StatusCode)
	}
	if resp, _ := req(t, n, "HEAD", u.Location, nil, nil, 0); resp.StatusCode != 412 {
		t.Errorf("HEAD without Tus-Resumable: %d", resp.StatusCode)
	}
	// The node still serves after all of that.
	if _, err := n.Client.Me(ctx); err != nil {
		t.Fatal(err)
	}
}

func testMediaUnauthorized(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	a, err := n.Client.UploadMedia(ctx, strings.NewReader("secret"), 6, "s.txt", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/media", "data"},
		{"GET", "/v1/media/" + a.MediaID, ""},
		{"GET", "/v1/media/" + a.MediaID + "/info", ""},
		{"POST", "/v1/media/uploads", ""},
		{"OPTIONS", "/v1/media/uploads", ""},
		{"PATCH", "/v1/media/uploads/x", "data"},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		resp, b := req(t, n, c.method, c.path, map[string]string{"Authorization": "", "Tus-Resumable": "1.0.0", "Upload-Length": "4"}, body, int64(len(c.body)))
		if resp.StatusCode != 401 || errCode(b) != "unauthorized" || bytes.Contains(b, []byte("secret")) {
			t.Errorf("%s %s without a token: %d %s", c.method, c.path, resp.StatusCode, b)
		}
	}
}

func testHTMLIsNotAPage(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	page := `<html><script>fetch("/v1/me")</script></html>`
	for _, typ := range []string{"text/html", "image/svg+xml"} {
		a, err := n.Client.UploadMedia(ctx, strings.NewReader(page), int64(len(page)), "evil.html", typ)
		if err != nil {
			t.Fatal(err)
		}
		resp, b := req(t, n, "GET", "/v1/media/"+a.MediaID, nil, nil, 0)
		h := resp.Header
		if resp.StatusCode != 200 || string(b) != page {
			t.Fatalf("%s: %d %q", typ, resp.StatusCode, b)
		}
		csp := h.Get("Content-Security-Policy")
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(csp, "sandbox") || strings.Contains(csp, "script-src 'self'") ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s served with %v", typ, h)
		}
	}
}

func testWrongImageClaim(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	data := testFile(10_000)
	// Not a JPEG: stored as an opaque file, no thumbnail, no dimensions, never inline.
	a, err := n.Client.UploadMedia(ctx, bytes.NewReader(data), int64(len(data)), "fake.jpg", "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if a.MIME != "application/octet-stream" || a.ThumbnailMediaID != nil || a.Width != 0 || a.Height != 0 {
		t.Errorf("a claimed JPEG that is not one: %+v", a)
	}
	resp, _ := req(t, n, "GET", "/v1/media/"+a.MediaID, nil, nil, 0)
	if resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("served with %v", resp.Header)
	}
	// A malformed Content-Type is refused.
	resp, b := req(t, n, "POST", "/v1/media", map[string]string{"Content-Type": "image/;;"}, bytes.NewReader(data), int64(len(data)))
	if resp.StatusCode != 400 {
		t.Errorf("malformed Content-Type: %d %s", resp.StatusCode, b)
	}
}

func testImageThumbnail(t *testing.T, n *nodetest.Node) {
	ctx := ctxT(t)
	img := image.NewRGBA(image.Rect(0, 0, 640, 400))
	for y := range 400 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	// Claimed as something else: the bytes decide.
	a, err := n.Client.UploadMedia(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "p.png", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if a.MIME != "image/png" || a.Width != 640 || a.Height != 400 || a.ThumbnailMediaID == nil {
		t.Fatalf("PNG attachment %+v", a)
	}
	th, err := n.Client.MediaInfo(ctx, *a.ThumbnailMediaID)
	if err != nil || th.MIME != "image/jpeg" || max(th.Width, th.Height) > media.ThumbnailMax || th.Width == 0 {
		t.Fatalf("thumbnail %+v %v", th, err)
	}
	resp, b := req(t, n, "GET", "/v1/media/"+th.MediaID, nil, nil, 0)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") || len(b) != int(th.Size) {
		t.Errorf("thumbnail GET %d %v", resp.StatusCode, resp.Header)
	}
}

// TestMediaNotHereIs409: a received file that is not downloaded yet answers 409 conflict
// with its state, and /info shows it downloading with the bytes received so far (0).
func TestMediaNotHereIs409(t *testing.T) {
	n := nodetest.Start(t, "receiver")
	n.Stop()
	// What a message would have carried: a manifest the node adds, not yet fetched.
	mf := media.Manifest{Key: bytes.Repeat([]byte{7}, 32), Size: 10, SHA256: bytes.Repeat([]byte{1}, 32),
		Chunks: []media.Hash{{9}}, Name: "later.txt", MIME: "text/plain"}
	mf.File[0] = 5
	st, err := store.Open(n.Dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := media.New(st, filepath.Join(n.Dir, "media"), media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := ms.Add(context.Background(), mf)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	resp, b := req(t, n, "GET", "/v1/media/"+id, nil, nil, 0)
	if resp.StatusCode != 409 || errCode(b) != "conflict" {
		t.Fatalf("GET of media not here: %d %s", resp.StatusCode, b)
	}
	a, err := n.Client.MediaInfo(ctxT(t), id)
	if err != nil || a.State != api.MediaDownloading || a.Received == nil || *a.Received != 0 || a.Size != 10 {
		t.Fatalf("info of media not here: %+v %v", a, err)
	}
	_, b = req(t, n, "GET", "/v1/media/"+id+"/info", nil, nil, 0)
	if !bytes.Contains(b, []byte(`"received":0`)) || !bytes.Contains(b, []byte(`"state":"downloading"`)) {
		t.Errorf("info JSON %s", b)
	}
}

// FuzzParseUploadMetadata: no header panics the parser; what it accepts has non-empty keys
// without spaces and UTF-8 values, and a header built from its result parses to the same.
func FuzzParseUploadMetadata(f *testing.F) {
	for _, s := range []string{"", "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential", "filename YQ==,filetype dGV4dC9wbGFpbg==",
		"a ,b", "a YQ==,a YQ==", " YQ==", "a !!", "a YQ", ",", "k \xff", "filename 4pyT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		md, err := mediaapi.ParseUploadMetadata(h)
		if err != nil {
			return
		}
		var parts []string
		for k, v := range md {
			if k == "" || strings.ContainsAny(k, " \t,") {
				t.Fatalf("accepted key %q from %q", k, h)
			}
			parts = append(parts, k+" "+b64(v))
		}
		back, err := mediaapi.ParseUploadMetadata(strings.Join(parts, ","))
		if err != nil || len(back) != len(md) {
			t.Fatalf("%q → %v → %v %v", h, md, back, err)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// slowBody yields pieces of data with a pause before each, like a slow uplink; stall, when
// set, makes it stop sending (without ending) after the first piece.
type slowBody struct {
	pieces [][]byte
	pause  time.Duration
	stall  chan struct{}
	sent   int
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.sent == len(b.pieces) {
		return 0, io.EOF
	}
	if b.sent > 0 && b.stall != nil {
		<-b.stall
		return 0, errors.New("stalled body released")
	}
	time.Sleep(b.pause)
	n := copy(p, b.pieces[b.sent])
	b.sent++
	return n, nil
}

// TestMediaBodyDeadlineMovesWithTheBytes: an upload that takes longer than the body
// deadline in all but keeps sending is taken whole (POST and tus PATCH); one that stops
// sending is cut after the body deadline; a JSON body as slow as the upload is still cut.
func TestMediaBodyDeadlineMovesWithTheBytes(t *testing.T) {
	const step = 400 * time.Millisecond
	n := nodetest.StartWith(t, "slow", func(c *node.Config) { c.APILimits.BodyTimeout = step })
	data := testFile(64 << 10)
	pieces := func() [][]byte {
		var ps [][]byte
		for i := 0; i < len(data); i += 8 << 10 {
			ps = append(ps, data[i:i+8<<10])
		}
		return ps // 8 pieces, step/2 apart: about twice the body deadline in all
	}
	ctx := ctxT(t)
	a, err := n.Client.UploadMedia(ctx, &slowBody{pieces: pieces(), pause: step / 2}, int64(len(data)), "slow", "")
	if err != nil || a.Size != int64(len(data)) {
		t.Fatalf("a slow but moving POST /v1/media: %+v %v", a, err)
	}
	u, err := n.Client.CreateUpload(ctx, int64(len(data)), "slow tus", "")
	if err != nil {
		t.Fatal(err)
	}
	if off, id, err := u.Patch(ctx, 0, &slowBody{pieces: pieces(), pause: step / 2}, int64(len(data))); err != nil || off != int64(len(data)) || id == "" {
		t.Fatalf("a slow but moving tus PATCH: %d %q %v", off, id, err)
	}
	// A body that stops: the node stops waiting for it (the client's read of the answer
	// returns; the stall is released only after).
	stall := make(chan struct{})
	defer close(stall)
	resp, b := req(t, n, "POST", "/v1/media", nil, &slowBody{pieces: pieces(), pause: 0, stall: stall}, int64(len(data)))
	if resp.StatusCode != 400 || errCode(b) != "bad_request" {
		t.Errorf("a stalled upload: %d %s, want 400 once the body deadline passed", resp.StatusCode, b)
	}
	// JSON bodies keep their fixed deadline.
	var ps [][]byte
	for _, c := range `{"name":"slow name"}` {
		ps = append(ps, []byte(string(c)))
	}
	_, err = n.Client.SetName(ctx, "x") // the node answers
	if err != nil {
		t.Fatal(err)
	}
	resp, b = req(t, n, "PATCH", "/v1/me", map[string]string{"Content-Type": "application/json"}, &slowBody{pieces: ps, pause: step / 2}, -1)
	if resp.StatusCode == 200 {
		t.Errorf("a JSON body slower than the body deadline was taken: %d %s", resp.StatusCode, b)
	}
}

// ctxT is a context for one request sequence of a test, ended with it.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
